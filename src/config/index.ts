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

export interface Config {
  nodeEnv: NodeEnv;
  isProduction: boolean;
  logLevel: LogLevel;
  http: HttpConfig;
  database: DatabaseConfig;
  redisUrl: string | undefined;
  graphql: GraphQLConfig;
  queryLimits: QueryLimits;
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
    graphql: {
      introspection: read.bool('GRAPHQL_INTROSPECTION', !isProduction),
      landingPage: read.bool('GRAPHQL_LANDING_PAGE', !isProduction),
      maxBatchSize: read.int('GRAPHQL_MAX_BATCH_SIZE', 10, 1, 100),
      executor: read.oneOf('GRAPHQL_EXECUTOR', ['jit', 'graphql-js'] as const, 'jit'),
      debugExtensions: read.bool('GRAPHQL_DEBUG_EXTENSIONS', false),
    },
    queryLimits: {
      maxDepth: read.int('QUERY_MAX_DEPTH', 10, 1, 1000),
      maxCost: read.int('QUERY_MAX_COST', 50_000, 1, Number.MAX_SAFE_INTEGER),
      maxAliases: read.int('QUERY_MAX_ALIASES', 30, 0, 100_000),
      maxListSize: read.int('QUERY_MAX_LIST_SIZE', 100, 1, 1_000_000),
    },
    ...overrides,
  };

  if (config.isProduction && config.graphql.debugExtensions) {
    read.problems.push('GRAPHQL_DEBUG_EXTENSIONS cannot be enabled in production: it exposes query internals');
  }
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return config;
}
