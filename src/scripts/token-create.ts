/**
 * `npm run token:create -- --user <id> --role <customer|admin> [--label text]`: issues an API token for a user and
 * prints it alone on the last line. The token is shown this once; only its hash is stored.
 */
import { parseArgs } from 'node:util';
import { eq } from 'drizzle-orm';
import { createApiToken } from '../auth/principal.js';
import { loadConfig } from '../config/index.js';
import { createDatabase } from '../db/client.js';
import { users } from '../db/schema.js';

const { values } = parseArgs({
  options: { user: { type: 'string' }, role: { type: 'string' }, label: { type: 'string' } },
});
const userId = Number(values.user);
if (!Number.isSafeInteger(userId) || userId < 1 || (values.role !== 'customer' && values.role !== 'admin')) {
  console.error('usage: npm run token:create -- --user <id> --role <customer|admin> [--label text]');
  process.exit(2);
}

const config = loadConfig();
const database = await createDatabase(config.database);
try {
  const [user] = await database.db.select({ id: users.id, email: users.email }).from(users).where(eq(users.id, userId));
  if (!user) {
    console.error(`No user with id ${userId}.`);
    process.exitCode = 1;
  } else {
    const { id, token } = await createApiToken(database.db, { userId, role: values.role, label: values.label });
    console.error(`Token ${id} for ${user.email} (${values.role}). It is shown once: store it now.`);
    console.log(token);
  }
} finally {
  await database.close();
}
