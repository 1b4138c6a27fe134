/**
 * Principals for tests: a new user with an API token of the given role, written straight to the server's database
 * (token issuance has its own tests), and the headers that authenticate as it.
 */
import { createApiToken } from '../../src/auth/principal.js';
import type { TokenRole } from '../../src/db/schema.js';
import { users } from '../../src/db/schema.js';
import { unique, type Client, type TestServer } from './server.js';

export interface TestPrincipal {
  userId: string;
  token: string;
  headers: Record<string, string>;
}

export async function createPrincipal(server: TestServer, role: TokenRole = 'customer'): Promise<TestPrincipal> {
  const [user] = await server.app.database.db
    .insert(users)
    .values({ email: `${role}-${unique()}@example.com`, name: `Test ${role}` })
    .returning({ id: users.id });
  const { token } = await createApiToken(server.app.database.db, { userId: user!.id, role });
  return { userId: String(user!.id), token, headers: { authorization: `Bearer ${token}` } };
}

/** A client of `server` authenticated as a new principal of `role`. */
export async function clientAs(server: TestServer, role: TokenRole): Promise<Client & TestPrincipal> {
  const principal = await createPrincipal(server, role);
  return { url: server.url, ...principal };
}
