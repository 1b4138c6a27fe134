/**
 * `npm run token:revoke -- --id <tokenId>`: revokes an API token at once; requests using it get 401 from then on.
 */
import { parseArgs } from 'node:util';
import { revokeApiToken } from '../auth/principal.js';
import { loadConfig } from '../config/index.js';
import { createDatabase } from '../db/client.js';

const { values } = parseArgs({ options: { id: { type: 'string' } } });
const id = Number(values.id);
if (!Number.isSafeInteger(id) || id < 1) {
  console.error('usage: npm run token:revoke -- --id <tokenId>');
  process.exit(2);
}

const config = loadConfig();
const database = await createDatabase(config.database);
try {
  if (await revokeApiToken(database.db, id)) {
    console.log(`Token ${id} revoked.`);
  } else {
    console.error(`No live token with id ${id}.`);
    process.exitCode = 1;
  }
} finally {
  await database.close();
}
