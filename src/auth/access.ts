/**
 * Access control: which rows a principal may see and what it may do. Responsible for the rules; they are enforced
 * where data is loaded (every loader and list query takes an `Access` and filters in its own SQL statement), so no
 * nested path, batch, alias or hand-made cursor can reach another tenant's rows. Not responsible for identifying the
 * caller (principal.ts).
 *
 * Rules: anonymous callers read the catalog only. A customer reads their own user, orders, items, payments and
 * refunds, places orders for themself, and pays and refunds only their own. An admin reads and does everything.
 * Another tenant's object reads as null (or NOT_FOUND in a mutation), never FORBIDDEN, so existence does not leak.
 */
import { sql, type AnyColumn, type Placeholder, type SQL } from 'drizzle-orm';
import { orders } from '../db/schema.js';
import { param } from '../db/statements.js';
import { BusinessError, ErrorCode } from '../graphql/errors.js';
import type { Principal } from './principal.js';

/** What rows of tenant data a principal may load: all of them, or only one user's. */
export type Access = { scope: 'all' } | { scope: 'owner'; userId: number } | { scope: 'none' };

export function accessFor(principal: Principal): Access {
  if (principal.kind === 'anonymous') return { scope: 'none' };
  return principal.role === 'admin' ? { scope: 'all' } : { scope: 'owner', userId: principal.userId };
}

/** The user id rows must belong to, null when unrestricted; anonymous gets an id no row has. */
export function ownerIdOf(access: Access): number | null {
  if (access.scope === 'all') return null;
  return access.scope === 'owner' ? access.userId : 0;
}

export function requireAuthenticated(principal: Principal, what: string): void {
  if (principal.kind !== 'user') {
    throw new BusinessError(ErrorCode.UNAUTHENTICATED, `${what} requires an API token (Authorization: Bearer <token>).`);
  }
}

export function requireAdmin(principal: Principal, what: string): void {
  requireAuthenticated(principal, what);
  if (principal.kind === 'user' && principal.role !== 'admin') {
    throw new BusinessError(ErrorCode.FORBIDDEN, `${what} is for admins only.`);
  }
}

/**
 * The two ownership rules as SQL, for an owner given as a value (drizzle queries) or as the `ownerId` parameter of a
 * prepared statement: a row's user is the owner, or the order a row refers to is the owner's.
 */
function userIs(userColumn: AnyColumn, owner: number | Placeholder): SQL {
  return sql`${userColumn} = ${owner}`;
}

function orderOfUser(orderIdColumn: AnyColumn, owner: number | Placeholder): SQL {
  return sql`exists (select 1 from ${orders} where ${orders.id} = ${orderIdColumn} and ${orders.userId} = ${owner})`;
}

/** SQL condition: `userColumn` is the principal's own user id (undefined when unrestricted). */
export function ownedBy(userColumn: AnyColumn, access: Access): SQL | undefined {
  const ownerId = ownerIdOf(access);
  return ownerId === null ? undefined : userIs(userColumn, ownerId);
}

/** SQL condition: the order `orderIdColumn` refers to belongs to the principal (undefined when unrestricted). */
export function orderOwnedBy(orderIdColumn: AnyColumn, access: Access): SQL | undefined {
  const ownerId = ownerIdOf(access);
  return ownerId === null ? undefined : orderOfUser(orderIdColumn, ownerId);
}

/**
 * A prepared statement of tenant data comes in two variants: `all` (no filter) and `owner`, whose SQL restricts rows
 * to the `ownerId` parameter (built with `ownerParam` conditions). `forAccess` picks the variant and the owner id.
 */
export interface AccessVariants<S> {
  all: S;
  owner: S;
}

export function accessVariants<S>(build: (restricted: boolean) => S): AccessVariants<S> {
  return { all: build(false), owner: build(true) };
}

export function forAccess<S>(variants: AccessVariants<S>, access: Access): { statement: S; ownerId: number | null } {
  const ownerId = ownerIdOf(access);
  return { statement: ownerId === null ? variants.all : variants.owner, ownerId };
}

/** Prepared-statement condition: `userColumn` is the `ownerId` parameter (undefined when not restricted). */
export function ownerParam(userColumn: AnyColumn, restricted: boolean): SQL | undefined {
  return restricted ? userIs(userColumn, param('ownerId')) : undefined;
}

/** Prepared-statement condition: the order `orderIdColumn` refers to belongs to the `ownerId` parameter. */
export function orderOwnerParam(orderIdColumn: AnyColumn, restricted: boolean): SQL | undefined {
  return restricted ? orderOfUser(orderIdColumn, param('ownerId')) : undefined;
}
