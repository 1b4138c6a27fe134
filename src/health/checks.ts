/**
 * The individual health checks: what is measured about each dependency and when it counts as pass, warn or fail.
 *
 * Each check is a named function returning one observation (`component:measurement`, as in
 * draft-inadarei-api-health-check). A check is `critical` when the server cannot do its job without it (Postgres,
 * migrations): its failure fails readiness. A non-critical check (Redis, pool saturation, event-loop delay) can at
 * worst warn, so a Redis outage degrades rate limiting but never takes the instance out of service.
 *
 * Not responsible for timeouts, caching or aggregation (service.ts) nor for HTTP (routes.ts).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { isDatabaseUnavailable } from '../db/errors.js';
import { pendingMigrations } from '../db/migrate.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';
export type ComponentType = 'datastore' | 'component' | 'system';

/** What a check saw. Only `status` is required; the runner adds the name, timing and time. */
export interface Observation {
  status: CheckStatus;
  observedValue?: number | null;
  observedUnit?: string;
  /** Human-readable, safe to show (no hosts, credentials or driver messages). */
  message?: string;
  /** Further figures (e.g. the pool's idle and waiting counts). */
  details?: Record<string, number>;
}

export interface HealthCheck {
  /** `component:measurement`, e.g. `postgres:responseTime`. */
  name: string;
  componentType: ComponentType;
  /** A critical check's failure fails the report (and readiness); a non-critical one can at worst warn. */
  critical: boolean;
  run(): Promise<Observation>;
}

/** One check's outcome in a report. */
export interface CheckResult extends Observation {
  name: string;
  componentType: ComponentType;
  /** How long the check took, in milliseconds. */
  latencyMs: number;
  /** When the check ran (ISO 8601). */
  time: string;
}

/** A safe description of why a check failed: error codes, never driver messages (they name hosts and users). */
export function describeFailure(error: unknown): string {
  const code = (error as { code?: unknown }).code ?? (error as { cause?: { code?: unknown } }).cause?.code;
  const suffix = typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? ` (${code})` : '';
  return isDatabaseUnavailable(error) ? `unavailable${suffix}` : `check failed${suffix}`;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * A round trip to Postgres on the probe connection (the embedded PGlite database reports under the same name). Warns
 * when it takes more than half of `slowMs`.
 */
export function postgresResponseTimeCheck(database: Database, slowMs: number): HealthCheck {
  return {
    name: 'postgres:responseTime',
    componentType: 'datastore',
    critical: true,
    async run() {
      const startedAt = performance.now();
      await database.rows(database.probeDb, sql`select 1`);
      const ms = round(performance.now() - startedAt);
      return {
        status: ms > slowMs / 2 ? 'warn' : 'pass',
        observedValue: ms,
        observedUnit: 'ms',
        ...(ms > slowMs / 2 && { message: `slow: ${ms} ms for select 1` }),
      };
    },
  };
}

/** The connection pool: open connections, with busy, idle and waiting figures. Warns when statements wait. */
export function postgresConnectionsCheck(database: Database): HealthCheck {
  return {
    name: 'postgres:connections',
    componentType: 'datastore',
    critical: false,
    async run() {
      const pool = database.poolStatus();
      const saturated = pool.waiting > 0;
      return {
        status: saturated ? 'warn' : 'pass',
        observedValue: pool.open,
        observedUnit: 'connections',
        message: `${pool.open} of ${pool.max} open, ${pool.busy} busy, ${pool.idle} idle, ${pool.waiting} waiting`,
        details: { max: pool.max, open: pool.open, busy: pool.busy, idle: pool.idle, waiting: pool.waiting },
      };
    },
  };
}

/** Migrations in drizzle/ the database has not applied. Any pending one fails: the schema is not what the code wants. */
export function pendingMigrationsCheck(database: Database): HealthCheck {
  return {
    name: 'migrations:pending',
    componentType: 'component',
    critical: true,
    async run() {
      const pending = await pendingMigrations(database, database.probeDb);
      return {
        status: pending.length === 0 ? 'pass' : 'fail',
        observedValue: pending.length,
        observedUnit: 'migrations',
        ...(pending.length > 0 && { message: `${pending.length} pending: ${pending.slice(0, 5).join(', ')}` }),
      };
    },
  };
}

/**
 * Event-loop delay: the 99th percentile since the previous check (a histogram sampled every 10 ms). High values mean
 * the process is CPU-bound and answers everything late. It only warns: failing readiness on load would move the
 * same load to the other instances and take them out one after another.
 */
export interface EventLoopMonitor {
  /** p99 and max delay in ms since the last call, then starts a new window. */
  sample(): { p99Ms: number; maxMs: number };
  stop(): void;
}

export function startEventLoopMonitor(): EventLoopMonitor {
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  return {
    sample() {
      // Delays are reported in nanoseconds and include the 10 ms sampling resolution.
      const p99Ms = histogram.count > 0 ? Math.max(0, histogram.percentile(99) / 1e6 - 10) : 0;
      const maxMs = histogram.count > 0 ? Math.max(0, histogram.max / 1e6 - 10) : 0;
      histogram.reset();
      return { p99Ms: round(p99Ms), maxMs: round(maxMs) };
    },
    stop: () => histogram.disable(),
  };
}

export function eventLoopDelayCheck(monitor: EventLoopMonitor, warnMs = 200): HealthCheck {
  return {
    name: 'eventLoop:delay',
    componentType: 'system',
    critical: false,
    async run() {
      const { p99Ms, maxMs } = monitor.sample();
      return {
        status: p99Ms > warnMs ? 'warn' : 'pass',
        observedValue: p99Ms,
        observedUnit: 'ms',
        ...(p99Ms > warnMs && { message: `p99 event-loop delay ${p99Ms} ms (warns above ${warnMs} ms)` }),
        details: { p99Ms, maxMs },
      };
    },
  };
}

/**
 * What the Redis check needs from the rate limiter: its status and, when it has one, a PING. `mode` is `redis` while
 * limits are shared through Redis, `degraded` while Redis is configured but failing, `in-process` without Redis.
 */
export interface RedisStatusSource {
  status(): {
    mode: string;
    redis?: { connection: string; breaker?: { state: string } } | null;
  };
  /** Round trip to Redis in ms; rejects when Redis does not answer. */
  ping?(): Promise<number>;
}

/**
 * Redis, as the rate limiter sees it. Never critical: without Redis the limiter counts per instance (or refuses limited
 * fields, with RATE_LIMIT_FAIL_MODE=closed) while everything else works, so an outage warns and readiness stays up.
 * `redisConfigured` is whether REDIS_URL is set, for the report when no limiter is wired.
 */
export function redisCheck(source: RedisStatusSource | undefined, redisConfigured: boolean): HealthCheck {
  const canPing = typeof source?.ping === 'function';
  return {
    name: 'redis:responseTime',
    componentType: 'datastore',
    critical: false,
    async run() {
      if (!source) {
        return {
          status: 'pass',
          message: redisConfigured
            ? 'not in use: no rate limiter is wired to REDIS_URL'
            : 'not configured: in-process limiter',
        };
      }
      const status = source.status();
      const redis = status.redis;
      const connection = redis ? `connection ${redis.connection}, breaker ${redis.breaker?.state ?? 'n/a'}` : '';
      switch (status.mode) {
        case 'in-process':
          return { status: 'pass', message: 'not configured: in-process limiter' };
        case 'disabled':
          return { status: 'pass', message: 'not used: rate limiting is disabled' };
        case 'degraded':
          return { status: 'warn', message: `degraded: rate limits are not shared (${connection})` };
        default: {
          if (!canPing) return { status: 'pass', message: `limits shared through Redis (${connection})` };
          const ms = round(await source.ping!());
          return { status: 'pass', observedValue: ms, observedUnit: 'ms', message: 'limits shared through Redis' };
        }
      }
    },
  };
}

export interface HealthCheckOptions {
  database: Database;
  eventLoop: EventLoopMonitor;
  /** The rate limiter's Redis status, when a limiter is wired. */
  redis?: RedisStatusSource;
  redisConfigured: boolean;
  /** A check slower than this fails; the Postgres round trip warns above half of it. */
  timeoutMs: number;
}

/** The server's checks, in report order. */
export function createHealthChecks(options: HealthCheckOptions): HealthCheck[] {
  return [
    postgresResponseTimeCheck(options.database, options.timeoutMs),
    postgresConnectionsCheck(options.database),
    pendingMigrationsCheck(options.database),
    redisCheck(options.redis, options.redisConfigured),
    eventLoopDelayCheck(options.eventLoop),
  ];
}
