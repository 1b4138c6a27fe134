/**
 * The request context lets go of what a request loaded once its response is serialised (GraphQLContext.release):
 * Apollo keeps each request reachable until the next full garbage collection, so the loaders' rows and the result
 * must not stay attached to it. Release must also leave the request's answer untouched, which every HTTP test checks
 * (the HTTP layer releases after writing the body); this file checks what release lets go of.
 */
import { parse, type GraphQLResolveInfo, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { SqlStats } from '../src/db/instrument.js';
import type { Database } from '../src/db/client.js';
import type { Reader } from '../src/db/statements.js';
import { createContext } from '../src/graphql/context.js';
import { buildSchema } from '../src/graphql/schema.js';
import { baseConfig, captureLogs } from './support/server.js';

const info = {
  schema: buildSchema(),
  operation: parse('{ user(id: 7) { name } }').definitions[0] as OperationDefinitionNode,
  fragments: {},
} as unknown as GraphQLResolveInfo;

function contextOverRows(rows: Array<Record<string, unknown>>) {
  const statements: string[] = [];
  const reader: Reader = {
    async rows(statement) {
      statements.push(statement.text);
      return statement.decode(rows.map((row) => ({ ...row })));
    },
  };
  const database = { forOperation: () => ({ reader, db: undefined }) } as unknown as Database;
  const context = createContext({
    requestId: 'test',
    principal: { kind: 'user', userId: 1, role: 'admin', tokenId: 1, ip: '127.0.0.1' },
    database,
    sqlStats: new SqlStats(),
    logger: captureLogs().logger,
    idempotencyConfig: baseConfig.idempotency,
    idempotencyKeyHeader: undefined,
  });
  return { context, statements };
}

describe('GraphQLContext.release', () => {
  it('drops the loaders with their caches and empties the tracked results', async () => {
    const { context, statements } = contextOverRows([{ id: 7, email: 'a@example.com', name: 'A', createdAt: new Date() }]);
    const loader = context.loaders.userById(info);
    expect((await loader.load(7))?.name).toBe('A');
    expect(await context.loaders.userById(info).load(7)).toBe(await loader.load(7));
    expect(statements).toHaveLength(1);
    // The operation selects only the name: the row holds the key and that column.
    expect(statements[0]).toMatch(/^select "users"\."id" as "id", "users"\."name" as "name" from/);

    const result = { data: { user: { name: 'A' } } as Record<string, unknown> };
    context.trackResult(result);
    context.release();

    expect(result.data).toEqual({});
    // A later load (none should come) gets a fresh loader rather than the released cache.
    expect(context.loaders.userById(info)).not.toBe(loader);
    await context.loaders.userById(info).load(7);
    expect(statements).toHaveLength(2);
  });

  it('is shared with the per-operation copies Apollo makes of the context', () => {
    const { context } = contextOverRows([]);
    const copy = Object.assign(Object.create(Object.getPrototypeOf(context)) as typeof context, context);
    const result = { data: { a: 1 } as Record<string, unknown> };
    copy.trackResult(result);
    context.release();
    expect(result.data).toEqual({});
  });
});
