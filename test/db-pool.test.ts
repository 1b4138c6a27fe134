/**
 * The Postgres pool (needs DATABASE_URL): read statements never queue behind a busy connection. postgres.js pipelines
 * by default, sending a statement after another one on a busy connection; the readers' statements are marked not to be
 * (src/db/client.ts), so a statement goes to the first free connection and a slow one holds up no one but itself.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { createDatabase } from '../src/db/client.js';
import { param, Statement } from '../src/db/statements.js';
import { createTestDatabase, usingPostgres } from './support/server.js';

describe.runIf(usingPostgres)('Postgres pool (needs DATABASE_URL)', () => {
  it('sends no statement after a slow one on its connection: they wait for the first free connection', async () => {
    const testDatabase = await createTestDatabase();
    const config = loadConfig({ DATABASE_URL: testDatabase.url, DB_POOL_MAX: '2' });
    const database = await createDatabase(config.database);
    try {
      const sleep = new Statement(sql`select pg_sleep(${param('seconds')}::float8)`, []);
      const echo = new Statement(sql`select ${param('i')}::int as i`, []);
      // Both connections open and idle.
      await Promise.all([1, 2].map(() => database.reader.rows(sleep, { seconds: 0.05 })));

      const finished: string[] = [];
      const slow = database.reader.rows(sleep, { seconds: 1 }).then(() => finished.push('slow'));
      const fast = Array.from({ length: 20 }, (_, i) =>
        database.reader.rows(echo, { i }).then(() => finished.push('fast')),
      );
      await Promise.all([slow, ...fast]);

      // Pipelined, a fast statement sent while both connections are busy would follow the slow one on its connection.
      expect(finished).toHaveLength(21);
      expect(finished.indexOf('slow')).toBe(20);
    } finally {
      await database.close();
      await testDatabase.drop();
    }
  });
});
