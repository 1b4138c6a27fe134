/**
 * `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the embedded database) and exits.
 */
import { loadConfig } from '../config/index.js';
import { createDatabase } from '../db/client.js';
import { pendingMigrations, runMigrations } from '../db/migrate.js';

const config = loadConfig();
const database = await createDatabase(config.database);
try {
  const pending = await pendingMigrations(database);
  await runMigrations(config.database, database);
  console.log(`Applied ${pending.length} migration(s) to the ${database.kind} database.`);
} finally {
  await database.close();
}
