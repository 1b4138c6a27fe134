/**
 * Wires the server together: database (migrated, and seeded with demo data when the embedded database starts
 * empty), schema, Apollo and the HTTP layer. `main.ts` runs it as a process; tests start it in-process on port 0.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/index.js';
import { createDatabase, type Database } from './db/client.js';
import { runMigrations } from './db/migrate.js';
import { isDatabaseEmpty, seedDemoData } from './db/seed.js';
import { createApolloServer } from './graphql/apollo.js';
import { buildSchema } from './graphql/schema.js';
import { createHttpServer } from './http/server.js';
import type { Logger } from './observability/logger.js';

export interface App {
  readonly server: Server;
  readonly database: Database;
  /** Base URL once listening, e.g. http://127.0.0.1:4000 */
  readonly url: string;
  listen(): Promise<string>;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout), then closes the database. */
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
      const summary = await seedDemoData(database.db);
      logger.info(summary, 'embedded database was empty: demo data loaded');
    }
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }

  const apollo = createApolloServer({
    schema: buildSchema(),
    config: config.graphql,
    queryLimits: config.queryLimits,
    logger,
  });
  await apollo.start();
  const server = createHttpServer({
    config: config.http,
    maxBatchSize: config.graphql.maxBatchSize,
    apollo,
    database,
    logger,
  });

  let url = '';
  let closing: Promise<void> | undefined;
  return {
    server,
    database,
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
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            logger.warn('shutdown timeout reached: closing remaining connections');
            server.closeAllConnections();
          }, config.http.shutdownTimeoutMs);
          timer.unref();
          server.close(() => {
            clearTimeout(timer);
            resolve();
          });
          server.closeIdleConnections();
        });
        await apollo.stop();
        await database.close();
      })();
      return closing;
    },
  };
}
