/**
 * Test harness: starts the real server in-process on an ephemeral port, on a database of its own.
 *
 * With DATABASE_URL set, each harness creates a fresh Postgres database with a unique name (dropped on close);
 * without it, an in-memory PGlite database. Nothing depends on leftovers from another run.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { SQL } from 'drizzle-orm';
import { pino } from 'pino';
import postgres from 'postgres';
import { createApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';

/** The environment as the test run sees it, validated by the same module as the server's. */
export const baseConfig = loadConfig({ ...process.env, NODE_ENV: 'test' });
export const usingPostgres = baseConfig.database.url !== undefined;

export interface TestDatabase {
  url: string | undefined;
  drop(): Promise<void>;
}

/** A brand-new, empty database: Postgres when DATABASE_URL is set, else nothing to create (PGlite in memory). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = baseConfig.database.url;
  if (!adminUrl) return { url: undefined, drop: async () => {} };
  const name = `ledger_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

export interface TestServer {
  app: App;
  url: string;
  config: Config;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Extra environment variables for the server's config. */
  env?: Record<string, string>;
  /** Reuse a database made by createTestDatabase (e.g. two servers on one database); it is then not dropped. */
  database?: TestDatabase;
  /** The server's logger; by default one at TEST_LOG_LEVEL (silent). */
  logger?: Logger;
}

export async function startServer(options: StartOptions = {}): Promise<TestServer> {
  const ownDatabase = options.database === undefined;
  const database = options.database ?? (await createTestDatabase());
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SEED_DEMO_WHEN_EMPTY: 'false',
    SHUTDOWN_TIMEOUT_MS: '2000',
    DATABASE_URL: database.url,
    PGLITE_DATA_DIR: 'memory://',
    ...options.env,
  };
  const config = loadConfig(env);
  const app = await createApp(config, options.logger ?? createLogger(config.logLevel));
  const url = await app.listen();
  return {
    app,
    url,
    config,
    async close() {
      await app.close();
      if (ownDatabase) await database.drop();
    },
  };
}

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, any> }>; extensions?: Record<string, any> };
}

/** Where to send requests, and as whom: a client's default headers (e.g. its Authorization) go with every request. */
export interface Client {
  url: string;
  headers?: Record<string, string>;
}

/** POSTs one GraphQL operation over real HTTP. */
export async function gql<T = Record<string, any>>(
  client: Client,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(`${client.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...client.headers, ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLResponse<T>['body'] };
}

/** The `extensions.code` of each error, in order. */
export function errorCodes(response: GraphQLResponse): string[] {
  return (response.body.errors ?? []).map((error) => String(error.extensions?.code));
}

/** A unique suffix for names and emails, so tests never collide with each other's data. */
export function unique(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** A logger at `level` whose lines are parsed into `lines`, for tests about what the server logs. */
export function captureLogs(level: 'info' | 'debug' = 'info'): { logger: Logger; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

/** The `n` column of a `select count(*)::int as n …` run directly against the server's database. */
export async function countRows(server: TestServer, query: SQL): Promise<number> {
  const rows = await server.app.database.rows<{ n: number }>(server.app.database.db, query);
  return rows[0]!.n;
}
