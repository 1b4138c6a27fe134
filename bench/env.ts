/**
 * The one place in bench/ that reads `process.env`: the bench's own knobs, the reference server's settings (handed
 * to it by run.ts) and the few variables forwarded to child processes. Everything else receives plain values.
 *
 *   BENCH_DATABASE_URL / DATABASE_URL  admin URL of the Postgres server (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_DURATION_SECONDS             seconds per case per round (default 10)
 *   BENCH_ROUNDS                       measured rounds (default 3)
 *   BENCH_WARMUP_SECONDS               warm-up seconds per case before round 1 (default 3); each measured run is also
 *                                      preceded by min(2, this) s of unmeasured load on its case
 */

export interface BenchSettings {
  /** Admin URL: the bench database is created and dropped through it. */
  adminUrl: string;
  /** Redis for the rate-limited case. */
  redisUrl: string;
  durationSeconds: number;
  rounds: number;
  warmupSeconds: number;
}

export interface ReferenceSettings {
  databaseUrl: string;
  port: number;
  poolMax: number;
  idleTimeoutSeconds: number;
  connectTimeoutSeconds: number;
  statementTimeoutMs: number;
}

const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

function value(name: string): string | undefined {
  const raw = process.env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

function number(name: string, fallback: number, min: number, integer: boolean): number {
  const raw = value(name);
  if (raw === undefined) return fallback;
  const parsed = Number(raw);
  if (!Number.isFinite(parsed) || parsed < min || (integer && !Number.isInteger(parsed))) {
    throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} >= ${min} (got "${raw}")`);
  }
  return parsed;
}

export function readBenchSettings(): BenchSettings {
  return {
    adminUrl: value('BENCH_DATABASE_URL') ?? value('DATABASE_URL') ?? DEFAULT_ADMIN_URL,
    redisUrl: value('BENCH_REDIS_URL') ?? value('REDIS_URL') ?? 'redis://127.0.0.1:6379',
    durationSeconds: number('BENCH_DURATION_SECONDS', 10, 1, false),
    rounds: number('BENCH_ROUNDS', 3, 1, true),
    warmupSeconds: number('BENCH_WARMUP_SECONDS', 3, 0, false),
  };
}

/** Variables run.ts sets for the reference child; `referenceEnv` and `readReferenceSettings` are the two halves. */
export function referenceEnv(settings: ReferenceSettings): Record<string, string> {
  return {
    BENCH_REF_DATABASE_URL: settings.databaseUrl,
    BENCH_REF_PORT: String(settings.port),
    BENCH_REF_POOL_MAX: String(settings.poolMax),
    BENCH_REF_IDLE_TIMEOUT_SECONDS: String(settings.idleTimeoutSeconds),
    BENCH_REF_CONNECT_TIMEOUT_SECONDS: String(settings.connectTimeoutSeconds),
    BENCH_REF_STATEMENT_TIMEOUT_MS: String(settings.statementTimeoutMs),
  };
}

export function readReferenceSettings(): ReferenceSettings {
  const databaseUrl = value('BENCH_REF_DATABASE_URL');
  if (!databaseUrl) throw new Error('BENCH_REF_DATABASE_URL is not set: the reference server is started by bench/run.ts');
  return {
    databaseUrl,
    port: number('BENCH_REF_PORT', 0, 0, true),
    poolMax: number('BENCH_REF_POOL_MAX', 10, 1, true),
    idleTimeoutSeconds: number('BENCH_REF_IDLE_TIMEOUT_SECONDS', 30, 0, true),
    connectTimeoutSeconds: number('BENCH_REF_CONNECT_TIMEOUT_SECONDS', 5, 1, true),
    statementTimeoutMs: number('BENCH_REF_STATEMENT_TIMEOUT_MS', 10_000, 0, true),
  };
}

/**
 * The environment children start from: nothing of the caller's but PATH and libpq-style PG* variables (postgres.js
 * honours PGPASSWORD and friends), so the servers run on exactly the configuration the bench passes.
 */
export function childBaseEnv(): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [name, raw] of Object.entries(process.env)) {
    if (raw !== undefined && (name === 'PATH' || name.startsWith('PG'))) base[name] = raw;
  }
  return base;
}
