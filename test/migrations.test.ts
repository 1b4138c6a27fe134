/**
 * The migrations in drizzle/ on a brand-new database: they apply, leave nothing pending, create the indexes that
 * relation lookups and pagination rely on, and several instances starting at once migrate safely.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { createDatabase } from '../src/db/client.js';
import { pendingMigrations, runMigrations } from '../src/db/migrate.js';
import { createTestDatabase, usingPostgres } from './support/server.js';

describe('migrations', () => {
  it('apply to an empty database, concurrently from several instances, leaving nothing pending', async () => {
    const testDatabase = await createTestDatabase();
    const config = loadConfig({ DATABASE_URL: testDatabase.url, PGLITE_DATA_DIR: 'memory://' });
    const instances = usingPostgres
      ? await Promise.all([1, 2, 3].map(() => createDatabase(config.database)))
      : [await createDatabase(config.database)];
    try {
      expect((await pendingMigrations(instances[0]!)).length).toBeGreaterThan(0);
      await Promise.all(instances.map((database) => runMigrations(config.database, database)));
      expect(await pendingMigrations(instances[0]!)).toEqual([]);

      const database = instances[0]!;
      const indexes = await database.rows<{ indexdef: string }>(
        database.db,
        sql`select indexdef from pg_indexes where schemaname = 'public'`,
      );
      const definitions = indexes.map((row) => row.indexdef.replace(/ USING btree/, ''));
      for (const expected of [
        'ON public.orders (user_id, id)',
        'ON public.orders (status, id)',
        'ON public.order_items (order_id, id)',
        'ON public.order_items (product_id)',
        'ON public.payments (order_id, id)',
        'UNIQUE INDEX users_email_lower_key ON public.users (lower(email))',
      ]) {
        expect(definitions.some((definition) => definition.includes(expected)), expected).toBe(true);
      }
    } finally {
      await Promise.all(instances.map((database) => database.close()));
      await testDatabase.drop();
    }
  });
});
