/**
 * Cursor pagination shared by every connection: argument validation, opaque cursors and the connection shape.
 *
 * A cursor encodes the row's primary key (unique, so pages never skip or repeat rows) and the kind of list it came
 * from, so a users cursor handed to `orders` is rejected rather than silently misread.
 */
import { badUserInput } from './errors.js';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface PageArgs {
  /** Rows to return (1 to MAX_PAGE_SIZE). */
  first: number;
  /** Return rows strictly after this key in the list's order; null for the first page. */
  afterId: number | null;
}


const CURSOR_PATTERN = /^([a-z]+):([1-9]\d{0,9})$/;

export function encodeCursor(kind: string, id: number): string {
  return Buffer.from(`${kind}:${id}`).toString('base64url');
}

function decodeCursor(kind: string, cursor: string): number {
  const decoded = /^[A-Za-z0-9_-]{1,64}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString() : '';
  const match = CURSOR_PATTERN.exec(decoded);
  const id = match ? Number(match[2]) : NaN;
  if (!match || match[1] !== kind || id > 2_147_483_647) {
    throw badUserInput(`"after" is not a cursor from this list: pass a pageInfo.endCursor or edge cursor.`, 'after');
  }
  return id;
}

/** Validates `first`/`after` for a list of `kind` ("u" users, "o" orders, ...). */
export function parsePageArgs(kind: string, args: { first?: number | null; after?: string | null }): PageArgs {
  const first = args.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw badUserInput(`"first" must be between 1 and ${MAX_PAGE_SIZE} (got ${first}).`, 'first');
  }
  return { first, afterId: args.after == null ? null : decodeCursor(kind, args.after) };
}

/**
 * A page of rows as a GraphQL connection. Cursors are encoded only for the fields that show them (`edges`,
 * `pageInfo`): most clients select `nodes` alone.
 */
export class Connection<T extends { id: number }> {
  constructor(
    private readonly kind: string,
    readonly nodes: T[],
    private readonly hasNextPage: boolean,
  ) {}

  get edges(): Array<{ cursor: string; node: T }> {
    return this.nodes.map((node) => ({ cursor: encodeCursor(this.kind, node.id), node }));
  }

  get pageInfo(): { hasNextPage: boolean; endCursor: string | null } {
    const last = this.nodes.at(-1);
    return { hasNextPage: this.hasNextPage, endCursor: last ? encodeCursor(this.kind, last.id) : null };
  }
}

/**
 * Builds a connection from up to `first + 1` rows fetched in list order: the extra row only tells that a next page
 * exists.
 */
export function toConnection<T extends { id: number }>(kind: string, rows: T[], first: number): Connection<T> {
  const hasNextPage = rows.length > first;
  return new Connection(kind, hasNextPage ? rows.slice(0, first) : rows, hasNextPage);
}
