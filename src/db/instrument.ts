/**
 * Statement counting at the driver: wraps a postgres.js `Sql` or a PGlite instance so that every statement sent
 * through it (including a transaction's BEGIN and COMMIT) is counted and timed into a per-operation `SqlStats`.
 * The wrappers are created per request, so figures belong to exactly one operation even under concurrency.
 */
import type { PGlite, Transaction as PGliteTransaction } from '@electric-sql/pglite';
import type { Sql } from 'postgres';

/** Statements and SQL wall time spent by one operation. */
export class SqlStats {
  statements = 0;
  sqlMs = 0;

  record(startedAt: number): void {
    this.sqlMs += performance.now() - startedAt;
  }
}

/**
 * A postgres.js query is a lazy promise: it runs when awaited, after drizzle may have switched it to array mode with
 * `.values()`. The proxy keeps both working and times the query from the call to its settlement.
 */
function trackPostgresQuery<Q extends object>(query: Q, stats: SqlStats): Q {
  stats.statements++;
  const startedAt = performance.now();
  const proxy: Q = new Proxy(query, {
    get(target, property) {
      if (property === 'values') {
        return () => {
          (target as unknown as { values(): unknown }).values();
          return proxy;
        };
      }
      if (property === 'then') {
        return (onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) =>
          (target as unknown as Promise<unknown>)
            .then(
              (value) => {
                stats.record(startedAt);
                return value;
              },
              (error: unknown) => {
                stats.record(startedAt);
                throw error;
              },
            )
            .then(onFulfilled, onRejected);
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return proxy;
}

/** Wraps a postgres.js client (or transaction) so drizzle's calls through it are counted. */
export function instrumentPostgres<T extends Sql>(client: T, stats: SqlStats): T {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'unsafe') {
        return (...args: Parameters<Sql['unsafe']>) => trackPostgresQuery(target.unsafe(...args), stats);
      }
      if (property === 'begin' || property === 'savepoint') {
        return (...args: unknown[]) => {
          const callback = args.pop() as (tx: Sql) => unknown;
          stats.statements += 2; // BEGIN/SAVEPOINT and COMMIT/RELEASE
          const method = (target as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[property]!;
          return method.call(target, ...args, (tx: Sql) => callback(instrumentPostgres(tx, stats)));
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

type PGliteLike = PGlite | PGliteTransaction;

/** Wraps a PGlite instance (or transaction) so drizzle's calls through it are counted. */
export function instrumentPGlite<T extends PGliteLike>(client: T, stats: SqlStats): T {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'query' || property === 'exec') {
        return async (...args: unknown[]) => {
          stats.statements++;
          const startedAt = performance.now();
          try {
            return await (target as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[property]!(
              ...args,
            );
          } finally {
            stats.record(startedAt);
          }
        };
      }
      if (property === 'transaction') {
        return (callback: (tx: PGliteTransaction) => unknown) => {
          stats.statements += 2;
          return (target as PGlite).transaction((tx) => Promise.resolve(callback(instrumentPGlite(tx, stats))));
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
