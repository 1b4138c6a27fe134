/**
 * The bench database: dropped and recreated on every run (so the data set is always the same), migrated and seeded
 * with the project's own code, then vacuumed and analysed so no autovacuum or stale statistics run into the
 * measurements. `drop` removes it again, whatever connections are still open.
 */
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import type { Config } from '../src/config/index.js';
import { createDatabase } from '../src/db/client.js';
import { runMigrations } from '../src/db/migrate.js';
import { createApiToken } from '../src/auth/principal.js';
import { users } from '../src/db/schema.js';
import { seedDemoData, type SeedOptions, type SeedSummary } from '../src/db/seed.js';

export const BENCH_DATABASE_NAME = 'ledger_bench';

/**
 * 1,000 users × 11 orders = 11,000 orders. The seed pays ~95% of orders' worth of payments (most orders paid, a
 * fifth of those in two instalments), so this yields > 10,000 payments; `seedBenchData` checks it.
 */
export const BENCH_SEED_OPTIONS: SeedOptions = { users: 1000, products: 200, ordersPerUser: 11, seed: 42 };

const MINIMUM = { users: 1000, orders: 10_000, payments: 10_000 };

/** The URL of the bench database on the same server as the admin URL. */
export function benchDatabaseUrl(adminUrl: string): string {
  const url = new URL(adminUrl);
  if (url.pathname.replace(/^\//, '') === BENCH_DATABASE_NAME) {
    throw new Error(`The admin URL must not point at ${BENCH_DATABASE_NAME} itself: it is dropped and recreated.`);
  }
  url.pathname = `/${BENCH_DATABASE_NAME}`;
  return url.toString();
}

export interface AdminConnection {
  recreate(): Promise<void>;
  drop(): Promise<void>;
  close(): Promise<void>;
}

export function connectAdmin(adminUrl: string): AdminConnection {
  const admin = postgres(adminUrl, { max: 1, connect_timeout: 5, onnotice: () => {} });
  const drop = async () => {
    await admin.unsafe(`drop database if exists ${BENCH_DATABASE_NAME} with (force)`);
  };
  return {
    async recreate() {
      await drop();
      await admin.unsafe(`create database ${BENCH_DATABASE_NAME}`);
    },
    drop,
    close: () => admin.end({ timeout: 5 }),
  };
}

/** Admins (one token each) the load rotates through: enough callers that none reaches a rate limit. */
export const BENCH_TOKEN_COUNT = 200;

/**
 * Migrates and seeds the (empty) database that `config.database.url` points at, with BENCH_TOKEN_COUNT admin tokens
 * (every case but `__typename` needs an authenticated caller), returned for the load generator.
 */
export async function seedBenchData(config: Config): Promise<SeedSummary & { tokens: string[] }> {
  const database = await createDatabase(config.database);
  try {
    await runMigrations(config.database, database);
    const summary = await seedDemoData(database.db, BENCH_SEED_OPTIONS);
    // One admin user per token: rate limits count per user, so the load spreads over BENCH_TOKEN_COUNT callers.
    const admins = await database.db
      .insert(users)
      .values(Array.from({ length: BENCH_TOKEN_COUNT }, (_, i) => ({ email: `bench-admin-${i}@example.com`, name: 'Bench' })))
      .returning({ id: users.id });
    const tokens: string[] = [];
    for (const admin of admins) {
      tokens.push((await createApiToken(database.db, { userId: admin.id, role: 'admin', label: 'bench' })).token);
    }
    const short = (Object.keys(MINIMUM) as Array<keyof typeof MINIMUM>).filter((key) => summary[key] < MINIMUM[key]);
    if (short.length > 0) {
      throw new Error(
        `The seed produced too few rows (${short.map((k) => `${k} ${summary[k]} < ${MINIMUM[k]}`).join(', ')}): ` +
          'raise BENCH_SEED_OPTIONS in bench/database.ts.',
      );
    }
    await database.db.execute(sql.raw('vacuum analyze'));
    return { ...summary, tokens };
  } finally {
    await database.close();
  }
}
