/**
 * Database access: one `Database` over either a postgres.js pool (when `DATABASE_URL` is set) or an embedded PGlite
 * database, with the same drizzle schema and migrations. Request code asks for `forOperation(stats)`, a drizzle handle
 * whose statements are counted into that operation's `SqlStats`.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { sql as drizzleSql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePGlite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { DatabaseConfig } from '../config/index.js';
import { instrumentPGlite, instrumentPostgres, SqlStats } from './instrument.js';

/** A drizzle handle: the database itself or an open transaction (a transaction is a `PgDatabase` too). */
export type Db = PgDatabase<PgQueryResultHKT>;

export interface PoolStatus {
  max: number;
}

export interface Database {
  readonly kind: 'postgres' | 'embedded';
  /** Uninstrumented handle for start-up work, scripts and background jobs. */
  readonly db: Db;
  /** A handle whose statements are counted into `stats`; create one per operation. */
  forOperation(stats: SqlStats): Db;
  /** Rows of a raw SQL statement, the same shape on both drivers. */
  rows<T>(db: Db, query: ReturnType<typeof drizzleSql>): Promise<T[]>;
  close(): Promise<void>;
  readonly poolMax: number;
}

export function createDatabase(config: DatabaseConfig): Promise<Database> {
  return config.url ? Promise.resolve(createPostgresDatabase(config, config.url)) : createEmbeddedDatabase(config);
}

function createPostgresDatabase(config: DatabaseConfig, url: string): Database {
  const client = postgres(url, {
    max: config.poolMax,
    idle_timeout: config.idleTimeoutSeconds,
    connect_timeout: config.connectTimeoutSeconds,
    connection: {
      application_name: 'ledger-graphql',
      ...(config.statementTimeoutMs > 0 ? { statement_timeout: config.statementTimeoutMs } : {}),
    },
    onnotice: () => {},
  });
  return {
    kind: 'postgres',
    db: drizzlePostgres({ client }),
    forOperation: (stats) => drizzlePostgres({ client: instrumentPostgres(client, stats) }),
    rows: async <T>(db: Db, query: ReturnType<typeof drizzleSql>) => (await db.execute(query)) as unknown as T[],
    close: () => client.end({ timeout: 5 }),
    poolMax: config.poolMax,
  };
}

async function createEmbeddedDatabase(config: DatabaseConfig): Promise<Database> {
  const dataDir = config.embeddedDataDir;
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const client = await PGlite.create(dataDir);
  return {
    kind: 'embedded',
    db: drizzlePGlite({ client }),
    forOperation: (stats) => drizzlePGlite({ client: instrumentPGlite(client, stats) }),
    rows: async <T>(db: Db, query: ReturnType<typeof drizzleSql>) =>
      ((await db.execute(query)) as unknown as { rows: T[] }).rows,
    close: () => client.close(),
    poolMax: 1,
  };
}

export { SqlStats };
