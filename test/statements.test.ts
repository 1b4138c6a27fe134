/**
 * Statements rendered once (src/db/statements.ts): the text, the parameter order, the drizzle-bound form used inside
 * transactions, and the guards against binding a value wrongly. Their results against a real database are covered
 * by every query test; this file pins the rendering itself.
 */
import { PgDialect } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { idempotencyKeys, orders, users } from '../src/db/schema.js';
import { param, selectStatement } from '../src/db/statements.js';

const dialect = new PgDialect();

describe('selectStatement', () => {
  const statement = selectStatement(
    orders,
    (columns) => sql`select ${columns} from ${orders}
      where ${orders.userId} = ${param('ownerId')} and ${orders.id} = any(${param('ids')}::int[]) limit ${param('limit')}`,
  );

  it('renders once, with every column aliased to its field and parameters in $n order', () => {
    expect(statement.text).toContain('"orders"."user_id" as "userId"');
    expect(statement.text).toContain('"orders"."created_at" as "createdAt"');
    expect(statement.text).toMatch(/"user_id" = \$1 and "orders"\."id" = any\(\$2::int\[\]\) limit \$3$/);
    expect(statement.values({ ids: [3, 1], ownerId: 7, limit: 21, unused: 'x' })).toEqual([7, [3, 1], 21]);
  });

  it('refuses to run with a value missing rather than send NULL', () => {
    expect(() => statement.values({ ids: [1], limit: 2 })).toThrow(/ownerId/);
  });

  it('binds to the same SQL and values for a drizzle handle', () => {
    const bound = dialect.sqlToQuery(statement.bind({ ids: [3, 1], ownerId: 7, limit: 21 }));
    expect(bound.sql).toBe(statement.text);
    expect(bound.params).toEqual([7, [3, 1], 21]);
  });

  it('decodes timestamps given as text and leaves Dates and nulls alone', () => {
    const at = new Date('2026-12-04T18:40:20.123Z');
    const rows = statement.decode([
      { id: 1, createdAt: '2026-12-04 18:40:20.123+00' },
      { id: 2, createdAt: at },
    ]);
    expect(rows.map((row) => row.createdAt)).toEqual([at, at]);
  });

  it('selects only the fields asked for', () => {
    const names = selectStatement(users, (columns) => sql`select ${columns} from ${users}`, ['id', 'name']);
    expect(names.text).toBe('select "users"."id" as "id", "users"."name" as "name" from "users"');
  });

  it('refuses columns whose values the drivers would not return as the row type holds them', () => {
    expect(() => selectStatement(idempotencyKeys, (columns) => sql`select ${columns} from ${idempotencyKeys}`)).toThrow(
      /response \(json\)/,
    );
  });
});
