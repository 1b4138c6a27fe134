/**
 * Process entry point: read the configuration, start the server, and shut down cleanly on SIGTERM/SIGINT (readiness
 * fails at once; after SHUTDOWN_DELAY_MS stop accepting, finish in-flight requests, close Postgres and Redis, exit 0).
 * A second signal exits at once, with 128 + the signal's number as shells report a killed process.
 */
import { constants } from 'node:os';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config/index.js';
import { createLogger } from './observability/logger.js';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

const logger = createLogger(config.logLevel);

try {
  const app = await createApp(config, logger);
  const url = await app.listen();
  logger.info(
    { url: `${url}/graphql`, env: config.nodeEnv, database: app.database.kind },
    `GraphQL API ready at ${url}/graphql`,
  );

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A last resort if closing a dependency hangs: Kubernetes would SIGKILL at its grace period, without a log line.
    const { shutdownDelayMs } = config.operations;
    setTimeout(() => {
      logger.error('shutdown did not finish in time: exiting now');
      process.exit(1);
    }, shutdownDelayMs + config.http.shutdownTimeoutMs + 10_000).unref();
    app.shutdown().then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
} catch (error) {
  logger.fatal({ err: error }, 'server failed to start');
  process.exit(1);
}
