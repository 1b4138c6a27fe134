import { defineConfig } from 'drizzle-kit';

// Generates SQL migrations from the drizzle schema. Generation needs no database connection.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
  migrations: { prefix: 'timestamp' },
});
