/**
 * Prometheus metrics (prom-client), served at GET /metrics.
 *
 * Responsible for the metric definitions and their labels, kept bounded: operation names are client-chosen, so only
 * valid GraphQL names are used and at most `MAX_OPERATION_NAMES` distinct ones per instance (the rest count as
 * `(other)`); outcomes are error codes, which the server chooses. Each App has its own `Registry` (tests run several
 * apps in one process), never prom-client's global one.
 *
 * Not responsible for observing anything itself: the HTTP layer, the Apollo plugin (src/graphql/apollo.ts), the loader
 * registry, the rate limiter and idempotency record into these metrics; pool and health gauges read their sources when
 * scraped.
 *
 * Metrics that other capabilities increment:
 * - `rateLimitedCalls` (`rate_limited_calls_total{field, reason}`): a call of a `@rateLimit` field refused. `field` is
 *   `Type.field`; `reason` is `limited` (over its limit) or `unavailable` (Redis failing, RATE_LIMIT_FAIL_MODE=closed).
 *   app.ts counts them through `RateLimiter.onRefused`.
 * - `idempotencyOutcomes` (`idempotency_outcomes_total{field, outcome}`): a mutation field called with an idempotency
 *   key. `field` is the mutation field; `outcome` is `executed` (first use, stored), `replayed` (answered from the
 *   stored response), `conflict` (key reused with different arguments: IDEMPOTENCY_KEY_REUSED) or `in_use` (a
 *   concurrent request holds the key: IDEMPOTENCY_KEY_IN_USE).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Distinct operation names tracked per instance; beyond, `(other)`. */
export const MAX_OPERATION_NAMES = 200;

const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,99}$/;
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

export interface PoolFigures {
  max: number;
  open: number;
  busy: number;
  idle: number;
  waiting: number;
}

export interface HealthFigures {
  status: string;
  checks: Array<{ name: string; status: string; latencyMs: number }>;
}

export interface OperationFigures {
  /** From `operationLabel`. */
  operation: string;
  /** `success`, or the first error's code. */
  outcome: string;
  seconds: number;
  statements: number;
  sqlSeconds: number;
}

export interface Metrics {
  readonly registry: Registry;
  readonly graphqlOperations: Counter<'operation' | 'outcome'>;
  readonly graphqlOperationDuration: Histogram<'operation' | 'outcome'>;
  readonly graphqlSqlStatements: Histogram<'operation'>;
  readonly graphqlSqlDuration: Histogram<'operation'>;
  readonly dataloaderBatchSize: Histogram<'loader'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpRequestDuration: Histogram<'method' | 'route'>;
  readonly rateLimitedCalls: Counter<'field' | 'reason'>;
  readonly idempotencyOutcomes: Counter<'field' | 'outcome'>;
  /** The label for an operation name: the name when valid and among the first tracked, else a placeholder. */
  operationLabel(name: string | null | undefined): string;
  /** The label for a failed outcome: the error code when it looks like one, else `ERROR`. */
  outcomeLabel(code: unknown): string;
  recordOperation(figures: OperationFigures): void;
  observeBatch(loader: string, size: number): void;
  /** Reads the pool's figures at each scrape. */
  observePool(source: () => PoolFigures): void;
  /** Reads the (cached) health report at each scrape. */
  observeHealth(source: () => Promise<HealthFigures>): void;
  /** The exposition text and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SQL_TIME_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STATEMENT_BUCKETS = [0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100];
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
const STATUSES = ['pass', 'warn', 'fail'] as const;

export function createMetrics(options: { defaultMetrics: boolean }): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const graphqlOperations = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL operations by operation name and outcome (success or the first error code).',
    labelNames: ['operation', 'outcome'] as const,
    registers,
  });
  const graphqlOperationDuration = new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'GraphQL operation latency, from the request reaching Apollo to the response being ready.',
    labelNames: ['operation', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const graphqlSqlStatements = new Histogram({
    name: 'graphql_operation_sql_statements',
    help: 'SQL statements one GraphQL operation issued.',
    labelNames: ['operation'] as const,
    buckets: STATEMENT_BUCKETS,
    registers,
  });
  const graphqlSqlDuration = new Histogram({
    name: 'graphql_operation_sql_duration_seconds',
    help: 'SQL time one GraphQL operation spent (statements timed from send to result, summed).',
    labelNames: ['operation'] as const,
    buckets: SQL_TIME_BUCKETS,
    registers,
  });
  const dataloaderBatchSize = new Histogram({
    name: 'dataloader_batch_size',
    help: 'Keys per DataLoader batch (one SQL statement each), by loader.',
    labelNames: ['loader'] as const,
    buckets: BATCH_BUCKETS,
    registers,
  });
  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  });
  const httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method and route.',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const rateLimitedCalls = new Counter({
    name: 'rate_limited_calls_total',
    help: 'Calls of @rateLimit fields refused, by field (Type.field) and reason (limited, unavailable).',
    labelNames: ['field', 'reason'] as const,
    registers,
  });
  const idempotencyOutcomes = new Counter({
    name: 'idempotency_outcomes_total',
    help: 'Mutation fields called with an idempotency key, by field and outcome (executed, replayed, conflict, in_use)',
    labelNames: ['field', 'outcome'] as const,
    registers,
  });

  let poolSource: (() => PoolFigures) | undefined;
  new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by state: open (busy + idle), busy, idle; max is the pool size.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      if (!poolSource) return;
      const pool = poolSource();
      for (const state of ['max', 'open', 'busy', 'idle'] as const) this.set({ state }, pool[state]);
    },
  });
  new Gauge({
    name: 'db_pool_waiting',
    help: 'Statements and transactions in flight beyond the open connections (waiting for a connection).',
    registers,
    collect() {
      if (poolSource) this.set(poolSource().waiting);
    },
  });

  let healthSource: (() => Promise<HealthFigures>) | undefined;
  let lastHealth: HealthFigures | undefined;
  new Gauge({
    name: 'health_check_status',
    help: 'Dependency and health check status: 1 for the status each check currently has (pass, warn, fail), else 0.',
    labelNames: ['check', 'status'] as const,
    registers,
    async collect() {
      if (!healthSource) return;
      lastHealth = await healthSource();
      this.reset();
      for (const check of lastHealth.checks) {
        for (const status of STATUSES) this.set({ check: check.name, status }, check.status === status ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'health_status',
    help: 'The overall health report status: 1 for the current status (pass, warn, fail), else 0.',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      // Collected after health_check_status (registration order), which fetched the report.
      if (!lastHealth) return;
      for (const status of STATUSES) this.set({ status }, lastHealth.status === status ? 1 : 0);
    },
  });

  const knownOperations = new Set<string>();
  function operationLabel(name: string | null | undefined): string {
    if (name === null || name === undefined || name === '') return '(anonymous)';
    if (!OPERATION_NAME.test(name)) return '(invalid)';
    if (knownOperations.has(name)) return name;
    if (knownOperations.size >= MAX_OPERATION_NAMES) return '(other)';
    knownOperations.add(name);
    return name;
  }

  return {
    registry,
    graphqlOperations,
    graphqlOperationDuration,
    graphqlSqlStatements,
    graphqlSqlDuration,
    dataloaderBatchSize,
    httpRequests,
    httpRequestDuration,
    rateLimitedCalls,
    idempotencyOutcomes,
    operationLabel,
    outcomeLabel: (code) => (typeof code === 'string' && ERROR_CODE.test(code) ? code : 'ERROR'),
    recordOperation({ operation, outcome, seconds, statements, sqlSeconds }) {
      graphqlOperations.inc({ operation, outcome });
      graphqlOperationDuration.observe({ operation, outcome }, seconds);
      graphqlSqlStatements.observe({ operation }, statements);
      graphqlSqlDuration.observe({ operation }, sqlSeconds);
    },
    observeBatch: (loader, size) => dataloaderBatchSize.observe({ loader }, size),
    observePool(source) {
      poolSource = source;
    },
    observeHealth(source) {
      healthSource = source;
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** GET (or HEAD) /metrics: the Prometheus text exposition of the app's registry. */
export function createMetricsRoute(metrics: Metrics): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const payload = JSON.stringify({
        errors: [{ message: 'Use GET or HEAD.', extensions: { code: 'METHOD_NOT_ALLOWED' } }],
      });
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json; charset=utf-8' });
      res.end(payload);
      return;
    }
    const { contentType, body } = await metrics.render();
    res.writeHead(200, {
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
