/**
 * Process entry point: read the configuration, start the server, and shut down cleanly on SIGTERM/SIGINT (stop
 * accepting, finish in-flight requests, close the database, exit 0). A second signal exits at once.
 */
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
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    app.close().then(
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
