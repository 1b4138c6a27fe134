/**
 * The request context lets go of what a request loaded once its response is serialised (GraphQLContext.release):
 * Apollo keeps each request reachable until the next full garbage collection, so the loaders' rows and the result
 * must not stay attached to it. Release must also leave the request's answer untouched, which every HTTP test checks
 * (the HTTP layer releases after writing the body); this file checks what release lets go of.
 */
import { describe, expect, it } from 'vitest';
import { SqlStats } from '../src/db/instrument.js';
import type { Database } from '../src/db/client.js';
import type { Reader } from '../src/db/statements.js';
import { createContext } from '../src/graphql/context.js';
import { baseConfig, captureLogs } from './support/server.js';

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
    const loader = context.loaders.userById;
    expect((await loader.load(7))?.name).toBe('A');
    expect(await context.loaders.userById.load(7)).toBe(await loader.load(7));
    expect(statements).toHaveLength(1);

    const result = { data: { user: { name: 'A' } } as Record<string, unknown> };
    context.trackResult(result);
    context.release();

    expect(result.data).toEqual({});
    // A later load (none should come) gets a fresh loader rather than the released cache.
    expect(context.loaders.userById).not.toBe(loader);
    await context.loaders.userById.load(7);
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
