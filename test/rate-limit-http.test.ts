/**
 * @rateLimit through the real SDL over real HTTP, with real Redis: payOrder's limit (60 per minute per principal,
 * the strictest) is exact under 2×max simultaneous requests and limited calls write nothing; principals and client
 * IPs (X-Forwarded-For only with TRUST_PROXY) are counted apart; two server instances share one budget; RATE_LIMITED
 * errors carry their extensions and the Retry-After header, beside partial data; with Redis cut mid-test requests
 * are still served and limited per instance, then enforced in Redis again once it is back; fail-closed mode;
 * in-process mode without REDIS_URL; and RATE_LIMIT_ENABLED=false.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../src/auth/principal.js';
import { products, users } from '../src/db/schema.js';
import { describeWithRedis, redisTarget, redisUrl, redisUrlVia, uniqueKeyPrefix } from './support/redis.js';
import {
  createTestDatabase,
  errorCodes,
  gql,
  startServer,
  unique,
  usingPostgres,
  type GraphQLResponse,
  type StartOptions,
  type TestServer,
} from './support/server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/** payOrder's limit in schema/payments.graphql. */
const PAY_LIMIT = 60;
/** products' limit in schema/catalog.graphql. */
const PRODUCTS_LIMIT = 600;

const PAY_ORDER = `mutation($input: PayOrderInput!) { payOrder(input: $input) { payment { id amountCents } } }`;
const PLACE_ORDER = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id totalCents } } }`;

const servers: TestServer[] = [];
const proxies: TcpProxy[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await Promise.all(proxies.map((proxy) => proxy.close()));
});

async function start(env: Record<string, string>, options: Omit<StartOptions, 'env'> = {}): Promise<TestServer> {
  const server = await startServer({ ...options, env: { RATE_LIMIT_KEY_PREFIX: uniqueKeyPrefix(), ...env } });
  servers.push(server);
  return server;
}

/** A new admin user with an API token, written to the server's database; returns its auth headers and id. */
async function principal(server: TestServer): Promise<{ userId: number; headers: Record<string, string> }> {
  const [row] = await server.app.database.db
    .insert(users)
    .values({ email: `rl-${unique()}@example.com`, name: 'Rate Limited' })
    .returning({ id: users.id });
  const { token } = await createApiToken(server.app.database.db, { userId: row!.id, role: 'admin' });
  return { userId: row!.id, headers: { authorization: `Bearer ${token}` } };
}

/** payOrder with a fresh idempotency key; an unknown order by default (the resolver fails fast, writing nothing). */
function pay(server: TestServer, headers: Record<string, string>, orderId = '999999', amountCents = 1) {
  return gql(server, PAY_ORDER, { input: { orderId, amountCents } }, { ...headers, 'idempotency-key': randomUUID() });
}

function payMany(count: number, target: (i: number) => Promise<GraphQLResponse>) {
  return Promise.all(Array.from({ length: count }, (_, i) => target(i)));
}

const isLimited = (res: GraphQLResponse) => errorCodes(res).includes('RATE_LIMITED');
const passedCount = (responses: GraphQLResponse[]) => responses.filter((res) => !isLimited(res)).length;

/**
 * Waits until the server counts in Redis. Under load (the whole suite in parallel, PGlite's migrations blocking the
 * event loop) a server can miss the Redis connect deadline and start degraded, counting in-process until the breaker's
 * next probe: correct behaviour, but not what a test of shared counting is about.
 */
async function untilShared(...targets: TestServer[]) {
  const deadline = Date.now() + 15_000;
  for (const target of targets) {
    while (target.app.rateLimiter.status().mode !== 'redis') {
      if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(target.app.rateLimiter.status())} after 15 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function expectRateLimited(res: GraphQLResponse, limit: number) {
  expect(res.status).toBe(200);
  expect(errorCodes(res)).toEqual(['RATE_LIMITED']);
  const error = res.body.errors![0]!;
  expect(error.extensions).toMatchObject({ code: 'RATE_LIMITED', limit, window: '1m' });
  const seconds = error.extensions!.retryAfterSeconds as number;
  expect(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60).toBe(true);
  expect(res.headers.get('retry-after')).toBe(String(seconds));
}

describeWithRedis('with Redis', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({ REDIS_URL: redisUrl });
    await untilShared(server);
  });

  it('lets exactly max of 2×max simultaneous payOrder calls through; the limited ones write nothing', async () => {
    const buyer = await principal(server);
    const [product] = await server.app.database.db
      .insert(products)
      .values({ sku: `RL-${unique()}`, name: 'Limited', priceCents: 100_000, currency: 'USD' })
      .returning();
    const placed = await gql(
      server,
      PLACE_ORDER,
      { input: { userId: String(buyer.userId), items: [{ productId: String(product!.id), quantity: 1 }] } },
      { ...buyer.headers, 'idempotency-key': randomUUID() },
    );
    expect(placed.body.errors).toBeUndefined();
    const orderId = placed.body.data!.placeOrder.order.id as string;

    const responses = await payMany(2 * PAY_LIMIT, () => pay(server, buyer.headers, orderId, 1));
    const limited = responses.filter(isLimited);
    expect(limited).toHaveLength(PAY_LIMIT);
    for (const res of limited) {
      expectRateLimited(res, PAY_LIMIT);
      expect(res.body.data).toEqual({ payOrder: null });
    }
    const passed = responses.filter((res) => !isLimited(res));
    for (const res of passed) expect(res.headers.get('retry-after')).toBeNull();
    const paid = passed.filter((res) => res.body.data?.payOrder?.payment);

    // One payment per call that passed, none for a limited call.
    const [{ n }] = (await server.app.database.rows<{ n: number }>(
      server.app.database.db,
      sql`select count(*)::int as n from payments where order_id = ${Number(orderId)}`,
    )) as [{ n: number }];
    expect(n).toBe(paid.length);
    expect(paid.length).toBe(PAY_LIMIT);
  });

  it('counts each principal separately: another user and an anonymous caller keep their budgets', async () => {
    const [alice, bob] = [await principal(server), await principal(server)];
    expect(passedCount(await payMany(PAY_LIMIT, () => pay(server, alice.headers)))).toBe(PAY_LIMIT);
    expectRateLimited(await pay(server, alice.headers), PAY_LIMIT);
    expect(isLimited(await pay(server, bob.headers))).toBe(false);
    expect(isLimited(await pay(server, {}))).toBe(false);
  });

  it('returns partial data beside a limited field, and Retry-After on a batched request', async () => {
    const carol = await principal(server);
    await payMany(PAY_LIMIT, () => pay(server, carol.headers));
    const email = `partial-${unique()}@example.com`;
    const mixed = await gql(
      server,
      `mutation($email: String!) {
        payOrder(input: { orderId: "999999", amountCents: 1 }) { payment { id } }
        createUser(input: { email: $email, name: "Partial" }) { user { email } }
      }`,
      { email },
      carol.headers,
    );
    expectRateLimited(mixed, PAY_LIMIT);
    expect(mixed.body.errors![0]!.path).toEqual(['payOrder']);
    expect(mixed.body.data).toEqual({ payOrder: null, createUser: { user: { email } } });

    const batch = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...carol.headers },
      body: JSON.stringify([
        { query: '{ products(first: 1) { nodes { id } } }' },
        { query: PAY_ORDER, variables: { input: { orderId: '999999', amountCents: 1 } } },
      ]),
    });
    const [products, payment] = (await batch.json()) as Array<GraphQLResponse['body']>;
    expect(products!.errors).toBeUndefined();
    expect(payment!.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(batch.headers.get('retry-after')).toBe(String(payment!.errors![0]!.extensions!.retryAfterSeconds));
  });

  it('ignores X-Forwarded-For by default: anonymous callers are their socket address', async () => {
    // 127.0.0.1 is shared with the other tests of this server, so exhaust it from here.
    const spoofed = (i: number) => ({ 'x-forwarded-for': `198.51.100.${i % 250}` });
    await exhaustProducts(server, spoofed);
    const res = await gql(server, '{ products(first: 1) { nodes { id } } }', undefined, spoofed(7));
    expectRateLimited(res, PRODUCTS_LIMIT);
    expect(res.body.data).toBeNull(); // products is non-null: its error nulls the whole (query-only) result
  });

  it('with TRUST_PROXY=1, counts anonymous callers by the address the proxy saw, not by what the client claims', async () => {
    const proxied = await start({ REDIS_URL: redisUrl, TRUST_PROXY: '1' });
    await untilShared(proxied);
    const client = '203.0.113.7';
    await exhaustProducts(proxied, () => ({ 'x-forwarded-for': client }));
    const query = '{ products(first: 1) { nodes { id } } }';
    // A client-supplied entry to the left of the proxy's does not change the identity.
    expectRateLimited(await gql(proxied, query, undefined, { 'x-forwarded-for': `10.9.9.9, ${client}` }), PRODUCTS_LIMIT);
    expect(isLimited(await gql(proxied, query, undefined, { 'x-forwarded-for': '203.0.113.8' }))).toBe(false);
    expect(isLimited(await gql(proxied, query))).toBe(false); // no header: the socket address
  });

  it('shares one budget between two server instances using the same Redis', async () => {
    const prefix = uniqueKeyPrefix();
    const database = await createTestDatabase();
    try {
      const [a, b] = await Promise.all(
        [0, 1].map(() => start({ REDIS_URL: redisUrl, RATE_LIMIT_KEY_PREFIX: prefix }, { database })),
      );
      // One user, the same id in both (one shared Postgres database, or two fresh embedded ones).
      const onA = await principal(a!);
      const onB = usingPostgres ? onA : await principal(b!);
      expect(onB.userId).toBe(onA.userId);
      await untilShared(a!, b!);
      const responses = await payMany(2 * PAY_LIMIT, (i) => (i % 2 ? pay(a!, onA.headers) : pay(b!, onB.headers)));
      expect(passedCount(responses)).toBe(PAY_LIMIT);
    } finally {
      await Promise.all(servers.splice(-2).map((s) => s.close()));
      await database.drop();
    }
  });

  it('keeps serving with Redis cut mid-test, limited per instance, and enforces in Redis again once it is back', async () => {
    const proxy = await startTcpProxy(redisTarget);
    proxies.push(proxy);
    const cutServer = await start({
      REDIS_URL: redisUrlVia(proxy),
      RATE_LIMIT_BREAKER_THRESHOLD: '2',
      RATE_LIMIT_BREAKER_COOLDOWN_MS: '200',
    });
    const dave = await principal(cutServer);
    await untilShared(cutServer);
    expect(passedCount(await payMany(20, () => pay(cutServer, dave.headers)))).toBe(20); // 20 of 60, in Redis

    proxy.cut();
    const lookup = await gql(cutServer, '{ product(id: "1") { id } }');
    expect(lookup.body.errors).toBeUndefined();
    const started = performance.now();
    const during = await payMany(PAY_LIMIT + 2, () => pay(cutServer, dave.headers));
    const elapsed = performance.now() - started;
    // Fail open, not to no limit: the in-process counter starts afresh and allows max.
    expect(passedCount(during)).toBe(PAY_LIMIT);
    for (const res of during.filter(isLimited)) expectRateLimited(res, PAY_LIMIT);
    expect(cutServer.app.rateLimiter.status()).toMatchObject({ mode: 'degraded', shared: false });
    console.info(`rate limit: ${PAY_LIMIT + 2} concurrent payOrder calls with Redis cut took ${elapsed.toFixed(0)} ms`);

    proxy.restore();
    await expect.poll(() => cutServer.app.rateLimiter.status().mode, { timeout: 10_000, interval: 50 }).toBe('redis');
    // Redis still counts the 20 calls from before the cut: 40 more pass, where the in-process count would allow 0.
    expect(passedCount(await payMany(PAY_LIMIT, () => pay(cutServer, dave.headers)))).toBe(PAY_LIMIT - 20);
  });

  it('fails closed when configured: limited fields are refused while Redis is cut, other fields still work', async () => {
    const proxy = await startTcpProxy(redisTarget);
    proxies.push(proxy);
    const closed = await start({
      REDIS_URL: redisUrlVia(proxy),
      RATE_LIMIT_FAIL_MODE: 'closed',
      RATE_LIMIT_BREAKER_COOLDOWN_MS: '200',
    });
    const erin = await principal(closed);
    await untilShared(closed);
    expect(isLimited(await pay(closed, erin.headers))).toBe(false);

    proxy.cut();
    const refused = await pay(closed, erin.headers);
    expect(errorCodes(refused)).toEqual(['RATE_LIMIT_UNAVAILABLE']);
    expect(refused.body.data).toEqual({ payOrder: null });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await gql(closed, '{ product(id: "1") { id } }')).body).toEqual({ data: { product: null } });

    proxy.restore();
    await expect.poll(() => closed.app.rateLimiter.status().mode, { timeout: 10_000, interval: 50 }).toBe('redis');
    expect(errorCodes(await pay(closed, erin.headers))).not.toContain('RATE_LIMIT_UNAVAILABLE');
  });
});

/** Uses up `products`' budget for the anonymous caller(s) the headers make, 10 operations per batched request. */
async function exhaustProducts(target: TestServer, headers: (i: number) => Record<string, string>) {
  const batch = JSON.stringify(Array.from({ length: 10 }, () => ({ query: '{ products(first: 1) { nodes { id } } }' })));
  const responses = await Promise.all(
    Array.from({ length: PRODUCTS_LIMIT / 10 }, (_, i) =>
      fetch(`${target.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers(i) },
        body: batch,
      }).then((res) => res.json() as Promise<Array<GraphQLResponse['body']>>),
    ),
  );
  expect(responses.flat().filter((body) => body.errors).length).toBe(0);
}

describe('without Redis', () => {
  it('limits in-process, exactly, when REDIS_URL is unset', async () => {
    const local = await start({ REDIS_URL: '' });
    expect(local.app.rateLimiter.status()).toMatchObject({ mode: 'in-process', shared: false, redis: null });
    const frank = await principal(local);
    const responses = await payMany(2 * PAY_LIMIT, () => pay(local, frank.headers));
    expect(passedCount(responses)).toBe(PAY_LIMIT);
  });

  it('limits nothing with RATE_LIMIT_ENABLED=false', async () => {
    const off = await start({ RATE_LIMIT_ENABLED: 'false' });
    expect(off.app.rateLimiter.status().mode).toBe('disabled');
    const grace = await principal(off);
    const responses = await payMany(2 * PAY_LIMIT, () => pay(off, grace.headers));
    expect(passedCount(responses)).toBe(2 * PAY_LIMIT);
  });
});
