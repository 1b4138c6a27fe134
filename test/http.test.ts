/**
 * The HTTP layer: malformed requests get clear GraphQL-shaped errors with the right status (never a 500 or a
 * crash), GET and batched POST work, request ids flow through, credentials are checked before execution, and
 * unexpected failures are masked.
 */
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../src/auth/principal.js';
import { apiTokens, users } from '../src/db/schema.js';
import { createPrincipal } from './support/principals.js';
import { errorCodes, gql, startServer, type TestServer } from './support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ env: { MAX_BODY_BYTES: '4096' } });
});
afterAll(() => server?.close());

async function post(body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

describe('malformed requests', () => {
  it('answers malformed JSON with 400', async () => {
    const res = await post('{"query": "{ __typename }"');
    expect(res.status).toBe(400);
    expect(res.json().errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('answers a body over the limit with 413, by declared length and by streamed size', async () => {
    const big = JSON.stringify({ query: `{ __typename }`, variables: { pad: 'x'.repeat(5000) } });
    const res = await post(big);
    expect(res.status).toBe(413);
    expect(res.json().errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');

    // Chunked upload: no content-length, so the limit must be enforced while reading.
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const chunked = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it('answers a non-JSON content type with 415', async () => {
    for (const headers of [{ 'content-type': 'text/plain' }, {} as Record<string, string>]) {
      const res = await post(JSON.stringify({ query: '{ __typename }' }), headers);
      expect(res.status).toBe(415);
      expect(res.json().errors[0].extensions.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('answers syntax and validation errors with 400 and GraphQL codes', async () => {
    const syntax = await gql(server, '{ users { ');
    expect(syntax.status).toBe(400);
    expect(errorCodes(syntax)).toEqual(['GRAPHQL_PARSE_FAILED']);
    const invalid = await gql(server, '{ users { nodes { password } } }');
    expect(invalid.status).toBe(400);
    expect(errorCodes(invalid)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    const noQuery = await post(JSON.stringify({ variables: {} }));
    expect(noQuery.status).toBe(400);
  });

  it('answers unknown paths with 404 and other methods with 405', async () => {
    const missing = await fetch(`${server.url}/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as any).errors[0].extensions.code).toBe('NOT_FOUND');
    const put = await fetch(`${server.url}/graphql`, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
  });
});

describe('GET, batching and request ids', () => {
  it('serves queries over GET (with a CSRF preflight header) but never mutations', async () => {
    const query = encodeURIComponent('{ products(first: 1) { nodes { id } } }');
    const ok = await fetch(`${server.url}/graphql?query=${query}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ data: { products: { nodes: [] } } });

    const csrf = await fetch(`${server.url}/graphql?query=${query}`);
    expect(csrf.status).toBe(400);

    const mutation = encodeURIComponent('mutation { createUser(input: {email: "g@example.com", name: "G"}) { user { id } } }');
    const refused = await fetch(`${server.url}/graphql?query=${mutation}`, { headers: { 'apollo-require-preflight': 'true' } });
    expect(refused.status).toBe(405);
  });

  it('executes batched operations and bounds the batch size', async () => {
    const batch = await post(JSON.stringify([{ query: '{ a: __typename }' }, { query: '{ b: __typename }' }]));
    expect(batch.status).toBe(200);
    expect(batch.json()).toEqual([{ data: { a: 'Query' } }, { data: { b: 'Query' } }]);

    const tooMany = await post(JSON.stringify(Array.from({ length: 11 }, () => ({ query: '{ __typename }' }))));
    expect(tooMany.status).toBe(400);
    expect(tooMany.json().errors[0].extensions.code).toBe('BATCH_TOO_LARGE');
  });

  it('echoes a well-formed X-Request-Id and makes one up otherwise', async () => {
    const given = await gql(server, '{ __typename }', undefined, { 'x-request-id': 'client-req-42' });
    expect(given.headers.get('x-request-id')).toBe('client-req-42');
    const made = await gql(server, '{ __typename }', undefined, { 'x-request-id': 'bad id with spaces' });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('authentication', () => {
  it('accepts a valid token and refuses malformed, unknown and revoked ones with 401 before execution', async () => {
    const [user] = await server.app.database.db
      .insert(users)
      .values({ email: 'token-owner@example.com', name: 'Owner' })
      .returning();
    const { id, token } = await createApiToken(server.app.database.db, { userId: user!.id, role: 'customer' });

    const ok = await gql(server, '{ __typename }', undefined, { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);

    const unknownToken = `lgr_${'A'.repeat(43)}`;
    for (const authorization of ['Bearer', 'Basic abc', `Bearer ${token}x`, `Bearer ${unknownToken}`, 'Bearer a b']) {
      const res = await gql(server, 'mutation { createUser(input: {email: "x@example.com", name: "X"}) { user { id } } }', undefined, {
        authorization,
      });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(errorCodes(res)).toEqual(['UNAUTHENTICATED']);
    }
    const [{ n }] = (await server.app.database.rows<{ n: number }>(
      server.app.database.db,
      sql`select count(*)::int as n from users where email = 'x@example.com'`,
    )) as [{ n: number }];
    expect(n).toBe(0);

    await server.app.database.db.update(apiTokens).set({ revokedAt: new Date() }).where(eq(apiTokens.id, id));
    const revoked = await gql(server, '{ __typename }', undefined, { authorization: `Bearer ${token}` });
    expect(revoked.status).toBe(401);
  });

  it('records when a token was last used', async () => {
    const [user] = await server.app.database.db
      .insert(users)
      .values({ email: 'last-used@example.com', name: 'Owner' })
      .returning();
    const { id, token } = await createApiToken(server.app.database.db, { userId: user!.id, role: 'admin' });
    await gql(server, '{ __typename }', undefined, { authorization: `Bearer ${token}` });
    await expect
      .poll(async () => {
        const [row] = await server.app.database.db.select().from(apiTokens).where(eq(apiTokens.id, id));
        return row!.lastUsedAt;
      })
      .not.toBeNull();
  });
});

describe('unexpected failures', () => {
  it('masks a database error: no SQL, no stack, a stable code and partial data', async () => {
    await server.app.database.db.execute(sql`alter table payments rename to payments_moved`);
    try {
      const admin = await createPrincipal(server, 'admin');
      const res = await gql(server, '{ payment(id: "1") { id } products(first: 1) { nodes { id } } }', {}, admin.headers);
      expect(res.status).toBe(200);
      expect(errorCodes(res)).toEqual(['INTERNAL_SERVER_ERROR']);
      expect(res.body.errors![0]!.message).toBe('Unexpected server error.');
      expect(JSON.stringify(res.body)).not.toMatch(/select|payments_moved|relation|stack/i);
      expect(res.body.data).toEqual({ payment: null, products: { nodes: [] } });
    } finally {
      await server.app.database.db.execute(sql`alter table payments_moved rename to payments`);
    }
  });
});

describe('production mode', () => {
  it('turns off the landing page and introspection', async () => {
    const production = await startServer({ env: { NODE_ENV: 'production', LOG_LEVEL: 'silent' } });
    try {
      const page = await fetch(`${production.url}/graphql`, { headers: { accept: 'text/html' } });
      expect(await page.text()).not.toMatch(/<html/i);
      const introspection = await gql(production, '{ __schema { types { name } } }');
      expect(introspection.status).toBe(400);
      expect(errorCodes(introspection)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    } finally {
      await production.close();
    }
  });

  it('serves the Sandbox landing page and introspection in development', async () => {
    const page = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const introspection = await gql(server, '{ __schema { queryType { name } } }');
    expect(introspection.body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });
});
