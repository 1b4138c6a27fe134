/**
 * Wires the server together: database (migrated, and seeded with demo data when the embedded database starts
 * empty), schema, Apollo and the HTTP layer, with health probes and metrics. `main.ts` runs it as a process; tests
 * start it in-process on port 0.
 *
 * Shutdown (`shutdown()`, on SIGTERM): readiness fails at once while the server keeps serving for SHUTDOWN_DELAY_MS, so
 * load balancers take the instance out of rotation; then `close()` stops accepting, lets in-flight requests finish (at
 * most SHUTDOWN_TIMEOUT_MS, then their connections are cut), and closes Postgres and Redis.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphQLSchema } from 'graphql';
import type { Config } from './config/index.js';
import { createDatabase, type Database } from './db/client.js';
import { runMigrations } from './db/migrate.js';
import { findDemoTokens } from './auth/principal.js';
import { DEFAULT_SEED_OPTIONS, isDatabaseEmpty, seedDemoData } from './db/seed.js';
import { createApolloServer } from './graphql/apollo.js';
import { buildSchema } from './graphql/schema.js';
import {
  createHealthChecks,
  createHealthRoutes,
  createHealthService,
  serviceVersion,
  startEventLoopMonitor,
  type HealthService,
} from './health/index.js';
import { createHttpServer, type RouteHandler } from './http/server.js';
import { createIdempotencyPlugin, startPurgeJob } from './idempotency/index.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, createMetricsRoute, type Metrics } from './observability/metrics.js';
import { createRateLimiter, createRetryAfterPlugin, logRateLimitMode, type RateLimiter } from './rate-limit/index.js';

export interface App {
  readonly server: Server;
  readonly database: Database;
  /** Enforces `@rateLimit`; its `status()` says whether limits are shared (Redis), per instance, degraded or off. */
  readonly rateLimiter: RateLimiter;
  /** Base URL once listening, e.g. http://127.0.0.1:4000 */
  readonly url: string;
  /** The health report and readiness state behind /healthz, /readyz, /health and `Query.health`. */
  readonly health: HealthService;
  /** This app's metrics (its own registry), served at /metrics unless METRICS_ENABLED=false. */
  readonly metrics: Metrics;
  listen(): Promise<string>;
  /**
   * The SIGTERM sequence: readiness fails at once, the server keeps serving for the shutdown delay (so load balancers
   * stop sending traffic), then `close()`. Resolves when everything is closed; a second call returns the same promise.
   */
  shutdown(): Promise<void>;
  /**
   * Readiness fails, the server stops accepting, lets in-flight requests finish (up to the shutdown timeout; responses
   * carry `Connection: close`), then closes Postgres and Redis. No delay: tests and the end of `shutdown()` use it.
   */
  close(): Promise<void>;
}

export async function createApp(config: Config, logger: Logger): Promise<App> {
  const database = await createDatabase(config.database);
  try {
    if (config.database.migrateOnStart) {
      await runMigrations(config.database, database);
      logger.info({ database: database.kind }, 'migrations applied');
    }
    if (database.kind === 'embedded' && config.database.seedDemoWhenEmpty && (await isDatabaseEmpty(database.db))) {
      const summary = await seedDemoData(database.db, DEFAULT_SEED_OPTIONS, { demoTokens: true });
      logger.info(summary, 'embedded database was empty: demo data loaded');
    }
    if (!config.isProduction) {
      // Development convenience: the demo seed's well-known tokens, so Sandbox users can authenticate at once.
      // A database whose migrations are pending (MIGRATE_ON_START=false) has no token table yet: nothing to print.
      const demoTokens = await findDemoTokens(database.db, DEFAULT_SEED_OPTIONS.seed).catch(() => []);
      for (const { role, token } of demoTokens) {
        logger.info({ role }, `demo ${role} token: Authorization: Bearer ${token}`);
      }
    }
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }

  // Before the capabilities that record into it (rate limiting, idempotency).
  const metrics = createMetrics({ defaultMetrics: config.operations.metricsEnabled });
  const rateLimiter = await createRateLimiter({ config: config.rateLimit, redisUrl: config.redisUrl, logger });
  logRateLimitMode(rateLimiter, logger);
  rateLimiter.onRefused((field, reason) => metrics.rateLimitedCalls.inc({ field, reason }));

  const eventLoop = startEventLoopMonitor();
  const health = createHealthService({
    checks: createHealthChecks({
      database,
      eventLoop,
      redis: rateLimiter,
      redisConfigured: config.redisUrl !== undefined,
      timeoutMs: config.operations.healthCheckTimeoutMs,
    }),
    version: serviceVersion(),
    timeoutMs: config.operations.healthCheckTimeoutMs,
    cacheMs: config.operations.healthCacheMs,
    logger,
  });
  metrics.observePool(() => database.poolStatus());
  metrics.observeHealth(() => health.report());
  const routes = new Map<string, RouteHandler>(createHealthRoutes(health));
  if (config.operations.metricsEnabled) routes.set('/metrics', createMetricsRoute(metrics));

  let schema: GraphQLSchema;
  try {
    schema = buildSchema({ rateLimiter, health });
  } catch (error) {
    eventLoop.stop();
    await rateLimiter.close();
    await database.close().catch(() => {});
    throw error;
  }

  const apollo = createApolloServer({
    schema,
    config: config.graphql,
    queryLimits: config.queryLimits,
    logger,
    metrics,
    plugins: [
      createIdempotencyPlugin((field, outcome) => metrics.idempotencyOutcomes.inc({ field, outcome })),
      createRetryAfterPlugin(),
    ],
  });
  await apollo.start();
  const server = createHttpServer({
    config: config.http,
    maxBatchSize: config.graphql.maxBatchSize,
    apollo,
    database,
    logger,
    idempotency: config.idempotency,
    routes,
    metrics,
    isDraining: () => health.draining,
  });
  const stopPurgeJob = startPurgeJob(database, config.idempotency, logger);

  let url = '';
  let closing: Promise<void> | undefined;
  let shuttingDown: Promise<void> | undefined;

  const close = () => {
    closing ??= (async () => {
      health.startDraining();
      const drainStartedAt = performance.now();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn(
            { shutdownTimeoutMs: config.http.shutdownTimeoutMs },
            'shutdown timeout reached: closing remaining connections',
          );
          server.closeAllConnections();
        }, config.http.shutdownTimeoutMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      logger.info({ drainMs: Math.round(performance.now() - drainStartedAt) }, 'shutdown: in-flight requests finished');
      stopPurgeJob();
      await apollo.stop();
      await rateLimiter.close();
      await database.close();
      eventLoop.stop();
    })();
    return closing;
  };

  return {
    server,
    database,
    rateLimiter,
    health,
    metrics,
    get url() {
      return url;
    },
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.http.port, config.http.host, () => {
          const address = server.address() as AddressInfo;
          const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
          resolve(url);
        });
      });
    },
    shutdown() {
      shuttingDown ??= (async () => {
        health.startDraining();
        const delayMs = config.operations.shutdownDelayMs;
        logger.info({ shutdownDelayMs: delayMs }, 'shutdown: readiness fails; serving until load balancers let go');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        logger.info('shutdown: no longer accepting connections; finishing in-flight requests');
        await close();
      })();
      return shuttingDown;
    },
    close,
  };
}
