/**
 * Authentication: turns the `Authorization: Bearer <token>` header into the principal a request acts as.
 *
 * Responsible for token format, hashing and lookup (tokens are stored only as SHA-256 hashes). Not responsible for
 * what a principal may do: access rules live with the data they protect.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, eq, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import type { Database, Db } from '../db/client.js';
import { apiTokens, type TokenRole } from '../db/schema.js';
import { param, selectStatement } from '../db/statements.js';
import { BusinessError, ErrorCode } from '../graphql/errors.js';

export type Principal =
  | { kind: 'anonymous'; ip: string }
  | { kind: 'user'; userId: number; role: TokenRole; tokenId: number; ip: string };

const TOKEN_PREFIX = 'lgr_';
const TOKEN_PATTERN = /^lgr_[A-Za-z0-9_-]{43}$/;
/** last_used_at is refreshed at most this often per token, so authenticated reads do not all turn into writes. */
const LAST_USED_RESOLUTION_MS = 60_000;

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function unauthenticated(message: string): BusinessError {
  return new BusinessError(ErrorCode.UNAUTHENTICATED, message);
}

const tokenByHash = selectStatement(
  apiTokens,
  (columns) => sql`select ${columns} from ${apiTokens} where ${apiTokens.tokenHash} = ${param('hash')}`,
  ['id', 'userId', 'role', 'tokenHash', 'revokedAt', 'lastUsedAt'],
);

/**
 * Resolves the principal for a request. No header: anonymous. A header that is not a well-formed bearer token, or a
 * token that is unknown or revoked: UNAUTHENTICATED.
 */
export async function resolvePrincipal(
  database: Pick<Database, 'db' | 'reader'>,
  authorization: string | undefined,
  ip: string,
): Promise<Principal> {
  if (authorization === undefined || authorization === '') return { kind: 'anonymous', ip };
  const match = /^Bearer ([^\s]+)$/i.exec(authorization.trim());
  if (!match || !TOKEN_PATTERN.test(match[1]!)) {
    throw unauthenticated('The Authorization header must be "Bearer <token>" with an API token.');
  }
  const hash = hashToken(match[1]!);
  const [row] = await database.reader.rows(tokenByHash, { hash });
  // The lookup is by hash, so timing reveals nothing about the token; compare again in constant time regardless.
  if (!row || !timingSafeEqual(Buffer.from(row.tokenHash), Buffer.from(hash)) || row.revokedAt !== null) {
    throw unauthenticated('The API token is unknown or revoked.');
  }
  if (row.lastUsedAt === null || Date.now() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    const staleBefore = new Date(Date.now() - LAST_USED_RESOLUTION_MS);
    // Best effort: a failed bookkeeping write must not fail the request.
    void database.db
      .update(apiTokens)
      .set({ lastUsedAt: new Date() })
      .where(and(eq(apiTokens.id, row.id), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, staleBefore))))
      .catch(() => {});
  }
  return { kind: 'user', userId: row.userId, role: row.role, tokenId: row.id, ip };
}

/** Creates a token for a user and returns it: the only time the token itself exists outside the client. */
export async function createApiToken(
  db: Db,
  options: { userId: number; role: TokenRole; label?: string; token?: string },
): Promise<{ id: number; token: string }> {
  const token = options.token ?? generateToken();
  const [row] = await db
    .insert(apiTokens)
    .values({ userId: options.userId, role: options.role, tokenHash: hashToken(token), label: options.label ?? null })
    .returning({ id: apiTokens.id });
  return { id: row!.id, token };
}

/**
 * The demo data's well-known tokens: derived from the seed, so a development server can print them at every start.
 * Only the demo seed creates them; never use demo data in production.
 */
export function demoToken(role: TokenRole, seed: number): string {
  return TOKEN_PREFIX + createHash('sha256').update(`ledger-graphql demo ${role} token, seed ${seed}`).digest('base64url');
}

/** The demo tokens that exist (and are not revoked) in this database. */
export async function findDemoTokens(db: Db, seed: number): Promise<Array<{ role: TokenRole; token: string }>> {
  const candidates = (['admin', 'customer'] as const).map((role) => ({ role, token: demoToken(role, seed) }));
  const found = await db
    .select({ tokenHash: apiTokens.tokenHash })
    .from(apiTokens)
    .where(and(inArray(apiTokens.tokenHash, candidates.map((c) => hashToken(c.token))), isNull(apiTokens.revokedAt)));
  const hashes = new Set(found.map((row) => row.tokenHash));
  return candidates.filter((c) => hashes.has(hashToken(c.token)));
}

/** Revokes a token by id; returns whether a live token was revoked. */
export async function revokeApiToken(db: Db, id: number): Promise<boolean> {
  const rows = await db
    .update(apiTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
    .returning({ id: apiTokens.id });
  return rows.length > 0;
}
