/**
 * Users' data access: batched lookups for DataLoader and the writes behind createUser.
 */
import DataLoader from 'dataloader';
import { and, asc, gt, Param, sql } from 'drizzle-orm';
import { ownedBy, type Access } from '../../auth/access.js';
import type { Db } from '../../db/client.js';
import { rowsByKey, sqlState } from '../../db/batch.js';
import { users, type UserRow } from '../../db/schema.js';
import { BusinessError, ErrorCode } from '../../graphql/errors.js';
import type { PageArgs } from '../../graphql/pagination.js';

/** Given user ids, one statement returns a user or null per id, in key order. */
export async function loadUsersByIds(db: Db, ids: readonly number[], access: Access): Promise<Array<UserRow | null>> {
  const rows = await db
    .select()
    .from(users)
    .where(and(sql`${users.id} = any(${new Param(ids)}::int[])`, ownedBy(users.id, access)));
  return rowsByKey(ids, rows, (row) => row.id);
}

export function createUserLoaders(db: Db, access: Access) {
  return {
    userById: new DataLoader<number, UserRow | null>((ids) => loadUsersByIds(db, ids, access)),
  };
}

/** A page of users in id order: up to `first + 1` rows so the caller can tell whether a next page exists. */
export function listUsers(db: Db, page: PageArgs, access: Access): Promise<UserRow[]> {
  return db
    .select()
    .from(users)
    .where(and(page.afterId === null ? undefined : gt(users.id, page.afterId), ownedBy(users.id, access)))
    .orderBy(asc(users.id))
    .limit(page.first + 1);
}

export async function insertUser(db: Db, input: { email: string; name: string }): Promise<UserRow> {
  try {
    const [row] = await db.insert(users).values(input).returning();
    return row!;
  } catch (error) {
    if (sqlState(error) === '23505') {
      throw new BusinessError(ErrorCode.EMAIL_TAKEN, `A user with email ${input.email} already exists.`, {
        argument: 'input.email',
      });
    }
    throw error;
  }
}
