/**
 * The Postgres pool (needs DATABASE_URL): no statement queues behind a busy connection. postgres.js pipelines by
 * default, sending a statement after another one on a busy connection; every statement sent to the pool is marked not
 * to be (src/db/instrument.ts), so a statement goes to the first free connection and a slow one holds up no one but
 * itself. Both paths are checked: the prepared reads and drizzle's statements.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { createDatabase, type Database } from '../src/db/client.js';
import { param, Statement } from '../src/db/statements.js';
import { createTestDatabase, usingPostgres } from './support/server.js';

const sleep = new Statement(sql`select pg_sleep(${param('seconds')}::float8)`, []);
const echo = new Statement(sql`select ${param('i')}::int as i`, []);

interface StatementPath {
  slow(db: Database): Promise<unknown>;
  fast(db: Database, i: number): Promise<unknown>;
}

const paths: Record<string, StatementPath> = {
  'prepared reads': {
    slow: (db) => db.reader.rows(sleep, { seconds: 1 }),
    fast: (db, i) => db.reader.rows(echo, { i }),
  },
  "drizzle's statements": {
    slow: (db) => db.rows(db.db, sql`select pg_sleep(1)`),
    fast: (db, i) => db.rows(db.db, sql`select ${i}::int as i`),
  },
};

describe.runIf(usingPostgres)('Postgres pool (needs DATABASE_URL)', () => {
  for (const [name, path] of Object.entries(paths)) {
    it(`${name}: none is sent after a slow statement on its connection; they wait for the first free one`, async () => {
      const testDatabase = await createTestDatabase();
      const config = loadConfig({ DATABASE_URL: testDatabase.url, DB_POOL_MAX: '2' });
      const database = await createDatabase(config.database);
      try {
        // Both connections open and idle.
        await Promise.all([1, 2].map(() => database.reader.rows(sleep, { seconds: 0.05 })));

        const finished: string[] = [];
        const slow = path.slow(database).then(() => finished.push('slow'));
        const fast = Array.from({ length: 20 }, (_, i) => path.fast(database, i).then(() => finished.push('fast')));
        await Promise.all([slow, ...fast]);

        // Pipelined, a fast statement sent while both connections are busy would follow the slow one on its connection.
        expect(finished).toHaveLength(21);
        expect(finished.indexOf('slow')).toBe(20);
        // Transactions still take a connection of their own.
        const [row] = await database.db.transaction((tx) => database.rows<{ one: number }>(tx, sql`select 1 as one`));
        expect(row).toEqual({ one: 1 });
      } finally {
        await database.close();
        await testDatabase.drop();
      }
    });
  }
});
