/**
 * Applies the SQL migrations in `drizzle/`. On a real Postgres several instances may start at once, so the run holds
 * a session-level advisory lock on a dedicated connection: one instance migrates, the others wait and find nothing
 * left to do.
 */
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { migrate as migratePGlite } from 'drizzle-orm/pglite/migrator';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { DatabaseConfig } from '../config/index.js';
import type { Database, Db } from './client.js';

/** `drizzle/` at the project root, from both `src/db` and the compiled `dist/db`. */
export const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));

const MIGRATION_LOCK_ID = 7_240_913_001;

export async function runMigrations(config: DatabaseConfig, database: Database): Promise<void> {
  if (database.kind === 'embedded') {
    await migratePGlite(database.db as PgliteDatabase, { migrationsFolder });
    return;
  }
  const client = postgres(config.url!, {
    max: 1,
    connect_timeout: config.connectTimeoutSeconds,
    onnotice: () => {},
  });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK_ID})`;
    await migratePostgres(drizzlePostgres({ client }), { migrationsFolder });
    await client`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`;
  } finally {
    await client.end({ timeout: 5 });
  }
}

/** Names of migrations in `drizzle/` that the database has not applied yet. */
export async function pendingMigrations(database: Database, db: Db = database.db): Promise<string[]> {
  const files = readMigrationFiles({ migrationsFolder });
  let lastApplied = 0;
  try {
    const rows = await database.rows<{ created_at: string | number }>(
      db,
      sql`select max(created_at) as created_at from drizzle.__drizzle_migrations`,
    );
    lastApplied = Number(rows[0]?.created_at ?? 0);
  } catch (error) {
    // 42P01/3F000: the migrations table or schema does not exist yet, so everything is pending.
    const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
    if (code !== '42P01' && code !== '3F000') throw error;
  }
  return files.filter((file) => file.folderMillis > lastApplied).map((file) => String(file.folderMillis));
}
