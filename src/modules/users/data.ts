/**
 * Users' data access: batched lookups for DataLoader and the writes behind createUser.
 */
import { and, sql } from 'drizzle-orm';
import { accessVariants, forAccess, ownerParam, type Access } from '../../auth/access.js';
import type { Db } from '../../db/client.js';
import { rowsByKey, sqlState } from '../../db/batch.js';
import { users, type UserRow } from '../../db/schema.js';
import { keyLookup, param, selectFamily, type Reader } from '../../db/statements.js';
import { BusinessError, ErrorCode } from '../../graphql/errors.js';
import type { PageArgs } from '../../graphql/pagination.js';
import { rowFieldSpec, type RowFields } from '../../graphql/selection.js';

/** What a User row must hold for an operation: `orders` reads the id. */
export const userRowFields = rowFieldSpec('User', users, { orders: ['id'] }, ['id']);

const usersByIds = accessVariants((restricted) => keyLookup(users, users.id, { where: ownerParam(users.id, restricted) }));

/** Given user ids, one statement returns a user or null per id, in key order. */
export async function loadUsersByIds(
  reader: Reader,
  ids: readonly number[],
  access: Access,
  fields: RowFields<typeof users>['fields'],
): Promise<Array<UserRow | null>> {
  const { statement, ownerId } = forAccess(usersByIds, access);
  const rows = await reader.rows(statement.select(fields), { ids, ownerId });
  return rowsByKey(ids, rows, (row) => row.id);
}

/** The user page statement, per variant: after a cursor or from the start, restricted to an owner or not. */
const userPages = [false, true].map((after) =>
  accessVariants((restricted) =>
    selectFamily(
      users,
      (columns) => sql`select ${columns} from ${users}
        where ${and(after ? sql`${users.id} > ${param('afterId')}` : sql`true`, ownerParam(users.id, restricted))}
        order by ${users.id} asc limit ${param('limit')}`,
    ),
  ),
);

/** A page of users in id order: up to `first + 1` rows so the caller can tell whether a next page exists. */
export function listUsers(
  reader: Reader,
  page: PageArgs,
  access: Access,
  fields: RowFields<typeof users>['fields'],
): Promise<UserRow[]> {
  const { statement, ownerId } = forAccess(userPages[page.afterId === null ? 0 : 1]!, access);
  return reader.rows(statement.select(fields), { afterId: page.afterId, ownerId, limit: page.first + 1 });
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
