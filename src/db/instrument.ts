/**
 * Statement counting at the driver: wraps a postgres.js `Sql` or a PGlite instance so that every statement drizzle
 * sends through it (including a transaction's BEGIN and COMMIT) is counted and timed into a per-operation `SqlStats`.
 * The wrappers are created per request, so figures belong to exactly one operation even under concurrency. Prepared
 * read statements (statements.ts) are counted the same way by the readers in client.ts, without the wrappers.
 *
 * Pool usage (`PoolUsage`) is tracked the same way, once per database rather than per request: neither driver exposes
 * how many statements are waiting for a connection, so the database's base client counts what it has in flight.
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
 * A postgres.js query is a lazy promise: it runs when first awaited, after drizzle may have switched it to array mode
 * with `.values()`. The proxy keeps both working, calls `observe` when the query is first awaited, and calls the
 * function `observe` returns once the query settles, whatever its outcome.
 */
function observeQuery<Q extends object>(query: Q, observe: () => () => void): Q {
  let observed = false;
  const proxy: Q = new Proxy(query, {
    get(target, property) {
      if (property === 'values') {
        return () => {
          (target as unknown as { values(): unknown }).values();
          return proxy;
        };
      }
      if (property === 'then') {
        return (onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) => {
          const promise = target as unknown as Promise<unknown>;
          if (!observed) {
            observed = true;
            onSettled(promise, observe());
          }
          return promise.then(onFulfilled, onRejected);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return proxy;
}

/** Counts and times one statement into `stats`. */
function trackPostgresQuery<Q extends object>(query: Q, stats: SqlStats): Q {
  return observeQuery(query, () => {
    stats.statements++;
    const startedAt = performance.now();
    return () => stats.record(startedAt);
  });
}

/**
 * drizzle sends its statements through `unsafe` without `prepare`, so postgres.js runs each one as an unnamed
 * statement and, not knowing the parameter types, asks the server to describe it first: two round trips per query.
 * Our statements are a small fixed set of texts (every value is a parameter), so preparing them is safe and makes
 * every later run one round trip (measured: 1.6 ms down to about 0.2-0.4 ms for a 50-id `= any($1)` lookup).
 */
export function preparedUnsafe(target: Sql, args: Parameters<Sql['unsafe']>, extra?: object) {
  const [query, parameters, options] = args;
  return target.unsafe(query, parameters, { ...options, ...extra, prepare: true });
}

/**
 * Marks a statement sent through the pool as one no other statement may follow on its connection until it is
 * answered. postgres.js 3.4 otherwise pipelines when every connection is busy: it sends the statement after another
 * one on a busy connection, so it waits behind that one even if another connection frees up first, and its pool leaves
 * a hole in its queue of busy connections each time, then removes connections from that queue by linear search. Under
 * sustained load the queue grew without bound (26,000 entries after 70,000 statements) and each statement cost more
 * CPU than the last. With this, a statement that finds every connection in use waits in the pool's queue for the first
 * free one. It is the hook postgres.js's own `begin` uses to take its connection out of the pipelinable ones (an
 * `onexecute` returning a falsy value): with every statement marked, nothing is ever pipelined. Only for statements
 * sent to the pool: inside a transaction the connection is already reserved.
 */
export const NOT_PIPELINED: object = { onexecute: () => false };

/** Wraps a postgres.js client (or transaction) so drizzle's calls through it are counted. */
export function instrumentPostgres<T extends Sql>(client: T, stats: SqlStats): T {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'unsafe') {
        return (...args: Parameters<Sql['unsafe']>) => trackPostgresQuery(preparedUnsafe(target, args), stats);
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

/**
 * Statements and transactions in flight through one database's client, whoever issued them (requests, the token
 * lookup, background jobs). A transaction holds its connection from BEGIN to COMMIT, so it counts once for its whole
 * duration and its statements are not counted again.
 */
export class PoolUsage {
  statements = 0;
  transactions = 0;

  /** Statements and transactions that currently need a connection each. */
  get inFlight(): number {
    return this.statements + this.transactions;
  }
}

/** Runs `settle` exactly once when `promise` settles, whatever its outcome, and returns `promise` unchanged. */
function onSettled<T>(promise: Promise<T>, settle: () => void): Promise<T> {
  promise.then(settle, settle);
  return promise;
}

/**
 * Counts a postgres.js client's statements and transactions into `usage` while they are in flight. A query counts from
 * the moment it is awaited (postgres.js queries are lazy) until it settles.
 */
export function trackPostgresPoolUsage<T extends Sql>(client: T, usage: PoolUsage): T {
  const trackQuery = <Q extends object>(query: Q): Q =>
    observeQuery(query, () => {
      usage.statements++;
      return () => usage.statements--;
    });
  return new Proxy(client, {
    get(target, property) {
      if (property === 'unsafe') {
        return (...args: Parameters<Sql['unsafe']>) => trackQuery(preparedUnsafe(target, args, NOT_PIPELINED));
      }
      if (property === 'begin') {
        return (...args: unknown[]) => {
          usage.transactions++;
          const begin = (target as unknown as { begin: (...a: unknown[]) => Promise<unknown> }).begin;
          return onSettled(begin.apply(target, args), () => usage.transactions--);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

type PGliteLike = PGlite | PGliteTransaction;

/** Counts a PGlite instance's statements and transactions into `usage` while they are in flight. */
export function trackPGlitePoolUsage(client: PGlite, usage: PoolUsage): PGlite {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'query' || property === 'exec') {
        return (...args: unknown[]) => {
          usage.statements++;
          const run = (target as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[property]!;
          return onSettled(run.apply(target, args), () => usage.statements--);
        };
      }
      if (property === 'transaction') {
        return (callback: (tx: PGliteTransaction) => unknown) => {
          usage.transactions++;
          return onSettled(
            target.transaction((tx) => Promise.resolve(callback(tx))),
            () => usage.transactions--,
          );
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

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
