/**
 * Configuration: the one place that reads `process.env`.
 *
 * Every setting is parsed and validated here; `loadConfig` collects every problem and throws them together so an
 * operator fixes a broken deployment in one pass. Nothing else in `src/` may read the environment: modules receive
 * the parts of `Config` they need.
 */

export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface DatabaseConfig {
  /** postgres:// URL of a real server; absent means the embedded PGlite database. */
  url: string | undefined;
  /** Folder for the embedded database; `memory://` keeps it in memory. */
  embeddedDataDir: string;
  poolMax: number;
  idleTimeoutSeconds: number;
  connectTimeoutSeconds: number;
  statementTimeoutMs: number;
  migrateOnStart: boolean;
  /** Load the demo data set when the embedded database starts empty. */
  seedDemoWhenEmpty: boolean;
}

export interface HttpConfig {
  host: string;
  port: number;
  maxBodyBytes: number;
  /** How long in-flight requests may take to finish after SIGTERM before the process exits anyway. */
  shutdownTimeoutMs: number;
  /**
   * TRUST_PROXY: how many proxies in front of the server append to X-Forwarded-For. 0 (default, `false`): the client
   * IP is the socket's peer and X-Forwarded-For is ignored. N: the client IP is the Nth address from the right of
   * X-Forwarded-For plus the peer, i.e. the address the outermost trusted proxy saw; anything further left is
   * client-supplied and ignored.
   */
  trustProxyHops: number;
}

export interface GraphQLConfig {
  introspection: boolean;
  landingPage: boolean;
  /** Most operations one batched HTTP request may hold. */
  maxBatchSize: number;
  /** `jit` compiles each document once with graphql-jit; `graphql-js` interprets it (the reference executor). */
  executor: 'jit' | 'graphql-js';
  /** Report each response's SQL statements and time in `extensions.sql` (never in production). */
  debugExtensions: boolean;
}

/** Limits every GraphQL operation must stay within; checked after validation, before any resolver runs. */
export interface QueryLimits {
  /** Deepest nesting of field selections. */
  maxDepth: number;
  /** Highest estimated cost (see src/query-limits for the formula). */
  maxCost: number;
  /** Most aliased fields in one operation. */
  maxAliases: number;
  /** Most elements in any one list argument or list variable. */
  maxListSize: number;
}

export interface IdempotencyConfig {
  /** How long a key and its stored response are kept (the draft asks for at least 24 h). */
  ttlSeconds: number;
  /** How long a duplicate waits for a concurrent request holding its key before IDEMPOTENCY_KEY_IN_USE. */
  waitMs: number;
  purgeIntervalMs: number;
  purgeBatchSize: number;
}

/** `@rateLimit` enforcement (see src/rate-limit). Redis is `Config.redisUrl`; unset means an in-process limiter. */
export interface RateLimitConfig {
  /** RATE_LIMIT_ENABLED=false turns every limit off (load tests, benchmarks); never the default. */
  enabled: boolean;
  /** While Redis is failing: `open` counts in-process per instance, `closed` refuses limited fields. */
  failMode: 'open' | 'closed';
  /** Prefix of every Redis key, so deployments sharing a Redis do not share limits. */
  keyPrefix: string;
  /** A Redis command slower than this counts as a failure (and the call falls back or is refused). */
  redisCommandTimeoutMs: number;
  redisConnectTimeoutMs: number;
  /** Consecutive Redis failures that open the circuit breaker (Redis is then skipped). */
  breakerFailureThreshold: number;
  /** How long the breaker stays open before a background PING checks whether Redis is back. */
  breakerCooldownMs: number;
  /** Most keys the in-process limiter holds (least recently used forgotten beyond). */
  inProcessMaxKeys: number;
}

/** Health checks, probes, graceful shutdown and metrics: what Kubernetes and Prometheus see (src/health). */
export interface OperationsConfig {
  /**
   * After SIGTERM, how long readiness fails while the server still serves, so endpoints are removed from load
   * balancers before it stops accepting. The in-flight drain (`http.shutdownTimeoutMs`) starts after it.
   */
  shutdownDelayMs: number;
  /** Longest a single health check may take before it counts as failed. */
  healthCheckTimeoutMs: number;
  /** How long a health report is reused, so probes cannot pile load on a struggling database. */
  healthCacheMs: number;
  /** Serve GET /metrics and collect the default process metrics. */
  metricsEnabled: boolean;
}

export interface Config {
  nodeEnv: NodeEnv;
  isProduction: boolean;
  logLevel: LogLevel;
  http: HttpConfig;
  database: DatabaseConfig;
  redisUrl: string | undefined;
  rateLimit: RateLimitConfig;
  graphql: GraphQLConfig;
  idempotency: IdempotencyConfig;
  queryLimits: QueryLimits;
  operations: OperationsConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads typed values from the environment, remembering every problem instead of stopping at the first. */
class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${value}")`);
    return fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got "${value}")`);
      return fallback;
    }
    return parsed;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(value)) return true;
    if (['false', '0', 'no', 'off'].includes(value)) return false;
    this.problems.push(`${name} must be true or false (got "${value}")`);
    return fallback;
  }

  /** TRUST_PROXY: `false`/`0` (default) or a hop count 1-10. `true` is refused: trusting every hop is spoofable. */
  trustProxy(name: string): number {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined || value === 'false' || value === '0') return 0;
    if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 10) return Number(value);
    this.problems.push(
      `${name} must be false or the number of proxies in front of the server, 1 to 10 (got "${value}"; ` +
        '"true" is not accepted because trusting every X-Forwarded-For entry lets clients choose their own IP)',
    );
    return 0;
  }

  url(name: string, protocols: readonly string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name} must use ${protocols.join(' or ')} (got "${parsed.protocol}")`);
        return undefined;
      }
      return value;
    } catch {
      // Never echo the value: URLs carry passwords.
      this.problems.push(`${name} is not a valid URL`);
      return undefined;
    }
  }
}

/**
 * Parses and validates the environment. Throws a `ConfigError` listing every problem found.
 * `env` defaults to the process environment; tests pass their own.
 */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const read = new EnvReader(env);
  const nodeEnv = read.oneOf<NodeEnv>('NODE_ENV', ['development', 'production', 'test'], 'development');
  const isProduction = nodeEnv === 'production';

  const config: Config = {
    nodeEnv,
    isProduction,
    logLevel: read.oneOf<LogLevel>(
      'LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      nodeEnv === 'test' ? 'silent' : 'info',
    ),
    http: {
      host: read.string('HOST', '0.0.0.0'),
      port: read.int('PORT', 4000, 0, 65535),
      maxBodyBytes: read.int('MAX_BODY_BYTES', 1024 * 1024, 1024, 100 * 1024 * 1024),
      shutdownTimeoutMs: read.int('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
      trustProxyHops: read.trustProxy('TRUST_PROXY'),
    },
    database: {
      url: read.url('DATABASE_URL', ['postgres:', 'postgresql:']),
      embeddedDataDir: read.string('PGLITE_DATA_DIR', '.data/pglite'),
      poolMax: read.int('DB_POOL_MAX', 10, 1, 500),
      idleTimeoutSeconds: read.int('DB_IDLE_TIMEOUT_SECONDS', 30, 0, 86_400),
      connectTimeoutSeconds: read.int('DB_CONNECT_TIMEOUT_SECONDS', 5, 1, 600),
      statementTimeoutMs: read.int('DB_STATEMENT_TIMEOUT_MS', 10_000, 0, 3_600_000),
      migrateOnStart: read.bool('MIGRATE_ON_START', true),
      seedDemoWhenEmpty: read.bool('SEED_DEMO_WHEN_EMPTY', true),
    },
    redisUrl: read.url('REDIS_URL', ['redis:', 'rediss:']),
    rateLimit: {
      enabled: read.bool('RATE_LIMIT_ENABLED', true),
      failMode: read.oneOf('RATE_LIMIT_FAIL_MODE', ['open', 'closed'] as const, 'open'),
      keyPrefix: read.string('RATE_LIMIT_KEY_PREFIX', 'ledger:rl:'),
      redisCommandTimeoutMs: read.int('RATE_LIMIT_REDIS_TIMEOUT_MS', 150, 10, 10_000),
      redisConnectTimeoutMs: read.int('RATE_LIMIT_REDIS_CONNECT_TIMEOUT_MS', 1_000, 100, 60_000),
      breakerFailureThreshold: read.int('RATE_LIMIT_BREAKER_THRESHOLD', 5, 1, 1_000),
      breakerCooldownMs: read.int('RATE_LIMIT_BREAKER_COOLDOWN_MS', 5_000, 100, 600_000),
      inProcessMaxKeys: read.int('RATE_LIMIT_IN_PROCESS_MAX_KEYS', 100_000, 100, 10_000_000),
    },
    graphql: {
      introspection: read.bool('GRAPHQL_INTROSPECTION', !isProduction),
      landingPage: read.bool('GRAPHQL_LANDING_PAGE', !isProduction),
      maxBatchSize: read.int('GRAPHQL_MAX_BATCH_SIZE', 10, 1, 100),
      executor: read.oneOf('GRAPHQL_EXECUTOR', ['jit', 'graphql-js'] as const, 'jit'),
      debugExtensions: read.bool('GRAPHQL_DEBUG_EXTENSIONS', false),
    },
    idempotency: {
      ttlSeconds: read.int('IDEMPOTENCY_TTL_SECONDS', 24 * 60 * 60, 1, 365 * 24 * 60 * 60),
      waitMs: read.int('IDEMPOTENCY_WAIT_MS', 5_000, 1, 600_000),
      purgeIntervalMs: read.int('IDEMPOTENCY_PURGE_INTERVAL_MS', 10 * 60 * 1000, 1_000, 24 * 60 * 60 * 1000),
      purgeBatchSize: read.int('IDEMPOTENCY_PURGE_BATCH_SIZE', 1_000, 1, 100_000),
    },
    queryLimits: {
      maxDepth: read.int('QUERY_MAX_DEPTH', 10, 1, 1000),
      maxCost: read.int('QUERY_MAX_COST', 50_000, 1, Number.MAX_SAFE_INTEGER),
      maxAliases: read.int('QUERY_MAX_ALIASES', 30, 0, 100_000),
      maxListSize: read.int('QUERY_MAX_LIST_SIZE', 100, 1, 1_000_000),
    },
    operations: {
      shutdownDelayMs: read.int('SHUTDOWN_DELAY_MS', 5_000, 0, 600_000),
      healthCheckTimeoutMs: read.int('HEALTH_CHECK_TIMEOUT_MS', 1_000, 50, 60_000),
      healthCacheMs: read.int('HEALTH_CACHE_MS', 1_000, 0, 60_000),
      metricsEnabled: read.bool('METRICS_ENABLED', true),
    },
    ...overrides,
  };

  if (config.isProduction && config.graphql.debugExtensions) {
    read.problems.push('GRAPHQL_DEBUG_EXTENSIONS cannot be enabled in production: it exposes query internals');
  }
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return config;
}
