/**
 * `npm run db:seed -- [--users N] [--products N] [--orders-per-user N] [--seed N] [--reset]`: loads deterministic
 * demo data into DATABASE_URL (or the embedded database), after applying migrations. Refuses a database that already
 * has users unless --reset is given, which first empties the domain tables.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.js';
import { createDatabase } from '../db/client.js';
import { runMigrations } from '../db/migrate.js';
import { DEFAULT_SEED_OPTIONS, isDatabaseEmpty, seedDemoData } from '../db/seed.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: String(DEFAULT_SEED_OPTIONS.users) },
    products: { type: 'string', default: String(DEFAULT_SEED_OPTIONS.products) },
    'orders-per-user': { type: 'string', default: String(DEFAULT_SEED_OPTIONS.ordersPerUser) },
    seed: { type: 'string', default: String(DEFAULT_SEED_OPTIONS.seed) },
    reset: { type: 'boolean', default: false },
  },
});

function count(name: string, value: string, min: number): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) {
    console.error(`--${name} must be an integer >= ${min} (got "${value}")`);
    process.exit(2);
  }
  return parsed;
}

const options = {
  users: count('users', values.users, 1),
  products: count('products', values.products, 1),
  ordersPerUser: count('orders-per-user', values['orders-per-user'], 0),
  seed: count('seed', values.seed, 0),
};

const config = loadConfig();
const database = await createDatabase(config.database);
try {
  await runMigrations(config.database, database);
  if (!values.reset && !(await isDatabaseEmpty(database.db))) {
    console.error('The database already has data. Re-run with --reset to replace it with the demo set.');
    process.exitCode = 1;
  } else {
    const summary = await seedDemoData(database.db, options, { reset: values.reset, demoTokens: true });
    console.log(`Seeded the ${database.kind} database: ${JSON.stringify(summary)}`);
  }
} finally {
  await database.close();
}
