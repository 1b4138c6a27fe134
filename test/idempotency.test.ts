/**
 * Idempotent mutations over real HTTP on a real database, with concurrent requests where concurrency is the claim:
 * exactly one execution per key, identical replays, conflicts refused, failures before commit leave nothing, keys
 * expire and are scoped to their principal, and the payment invariants hold without keys too.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeExpiredKeys } from '../src/idempotency/index.js';
import { products } from '../src/db/schema.js';
import { createPrincipal, type TestPrincipal } from './support/principals.js';
import {
  countRows,
  createTestDatabase,
  errorCodes,
  gql,
  startServer,
  usingPostgres,
  type GraphQLResponse,
  type TestDatabase,
  type TestServer,
} from './support/server.js';

// Rate limits are orthogonal to idempotency and are tested on their own; these tests fire bursts on purpose.
const ENV = { RATE_LIMIT_ENABLED: 'false' };

let server: TestServer;
let alice: TestPrincipal;
let bob: TestPrincipal;
let productId: string;

const PLACE_ORDER = `mutation($input: PlaceOrderInput!, $key: String) {
  placeOrder(input: $input, idempotencyKey: $key) { order { id totalCents status } } }`;
const PAY_ORDER = `mutation($input: PayOrderInput!, $key: String) {
  payOrder(input: $input, idempotencyKey: $key) {
    payment { id amountCents status createdAt order { id status } }
    order { id status payments { id amountCents } } } }`;
const REFUND = `mutation($input: RefundPaymentInput!, $key: String) {
  refundPayment(input: $input, idempotencyKey: $key) {
    refund { id amountCents currency payment { id } } payment { id amountCents refundedCents status order { status } } } }`;

async function newOrder(target: TestServer = server, principal: TestPrincipal = alice, quantity = 1) {
  const res = await gql(
    target,
    PLACE_ORDER,
    { input: { userId: principal.userId, items: [{ productId, quantity }] }, key: randomUUID() },
    principal.headers,
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.placeOrder.order as { id: string; totalCents: number };
}

function pay(orderId: string, amountCents: number, key: string | null, principal = alice, target = server) {
  return gql(target, PAY_ORDER, { input: { orderId, amountCents }, key }, principal.headers);
}

function paymentsOf(orderId: string, target = server) {
  return countRows(target, sql`select count(*)::int as n from payments where order_id = ${Number(orderId)}`);
}

beforeAll(async () => {
  server = await startServer({ env: ENV });
  [alice, bob] = [await createPrincipal(server, 'admin'), await createPrincipal(server, 'admin')];
  const [product] = await server.app.database.db
    .insert(products)
    .values({ sku: 'IDEM-1', name: 'Widget', priceCents: 2500, currency: 'USD' })
    .returning();
  productId = String(product!.id);
});
afterAll(() => server?.close());

describe('exactly once', () => {
  it('50 concurrent identical payOrder calls: one payment row, 50 identical answers', async () => {
    const order = await newOrder();
    const key = randomUUID();
    const responses = await Promise.all(Array.from({ length: 50 }, () => pay(order.id, order.totalCents, key)));
    for (const res of responses) expect(res.body.errors).toBeUndefined();
    const bodies = new Set(responses.map((res) => JSON.stringify(res.body.data)));
    expect(bodies.size).toBe(1);
    expect(responses[0]!.body.data!.payOrder.order.status).toBe('PAID');
    expect(await paymentsOf(order.id)).toBe(1);
    const replays = responses.filter((res) => res.headers.get('idempotent-replayed') === 'true');
    expect(replays).toHaveLength(49);
    for (const res of replays) expect(res.body.extensions?.idempotency).toEqual({ replayed: true });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/idempotency_outcomes_total\{field="payOrder",outcome="executed"\} 1\b/);
    expect(metrics).toMatch(/idempotency_outcomes_total\{field="payOrder",outcome="replayed"\} 49\b/);
  });

  it('replays the stored response byte for byte, even after the data changed', async () => {
    const order = await newOrder(server, alice, 2);
    const key = randomUUID();
    const first = await pay(order.id, 1000, key);
    expect(first.body.extensions?.idempotency).toEqual({ replayed: false });
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    // Another payment changes the order after the first response was stored.
    await pay(order.id, 500, randomUUID());
    const replay = await pay(order.id, 1000, key);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(JSON.stringify(replay.body.data)).toBe(JSON.stringify(first.body.data));
    expect(replay.body.data!.payOrder.order.payments).toHaveLength(1);
    expect(await paymentsOf(order.id)).toBe(2);
  });

  it('works with aliases and the Idempotency-Key header', async () => {
    const order = await newOrder();
    const query = `mutation($input: PayOrderInput!) { charged: payOrder(input: $input) { payment { amountCents } } }`;
    const headers = { ...alice.headers, 'idempotency-key': `hdr-${randomUUID()}` };
    const first = await gql(server, query, { input: { orderId: order.id, amountCents: 300 } }, headers);
    const replay = await gql(server, query, { input: { orderId: order.id, amountCents: 300 } }, headers);
    expect(first.body.data).toEqual({ charged: { payment: { amountCents: 300 } } });
    expect(replay.body).toEqual({ ...first.body, extensions: { idempotency: { replayed: true } } });
    expect(await paymentsOf(order.id)).toBe(1);
  });

  it('stores and replays business failures like successes', async () => {
    const order = await newOrder();
    await pay(order.id, order.totalCents, randomUUID());
    const key = randomUUID();
    const refused = await pay(order.id, 100, key);
    expect(errorCodes(refused)).toEqual(['ORDER_ALREADY_PAID']);
    const replay = await pay(order.id, 100, key);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.errors).toEqual(refused.body.errors);
    expect(replay.body.data).toEqual({ payOrder: null });

    // A validation error inside the resolver is stored too.
    const badKey = randomUUID();
    const invalid = await pay(order.id, -1, badKey);
    expect(errorCodes(invalid)).toEqual(['BAD_USER_INPUT']);
    expect((await pay(order.id, -1, badKey)).headers.get('idempotent-replayed')).toBe('true');
  });
});

describe('conflicts and bad keys', () => {
  it('refuses a key reused with other arguments or another field, writing nothing', async () => {
    const order = await newOrder(server, alice, 2);
    const key = randomUUID();
    await pay(order.id, 700, key);
    const otherAmount = await pay(order.id, 800, key);
    expect(errorCodes(otherAmount)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(
      /idempotency_outcomes_total\{field="payOrder",outcome="conflict"\} [1-9]/,
    );
    const otherField = await gql(
      server,
      PLACE_ORDER,
      { input: { userId: alice.userId, items: [{ productId, quantity: 1 }] }, key },
      alice.headers,
    );
    expect(errorCodes(otherField)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    expect(await paymentsOf(order.id)).toBe(1);
  });

  it('requires a well-formed key for payment mutations and executes nothing without one', async () => {
    const order = await newOrder();
    const missing = await pay(order.id, 100, null);
    expect(errorCodes(missing)).toEqual(['BAD_USER_INPUT']);
    expect(missing.body.errors![0]!.extensions!.argument).toBe('idempotencyKey');
    for (const key of ['', 'k'.repeat(256), 'naïve-ключ', 'tab\tkey']) {
      expect(errorCodes(await pay(order.id, 100, key)), JSON.stringify(key)).toEqual(['BAD_USER_INPUT']);
    }
    const twoFields = await gql(
      server,
      `mutation($a: PayOrderInput!) { one: payOrder(input: $a) { payment { id } } two: payOrder(input: $a) { payment { id } } }`,
      { a: { orderId: order.id, amountCents: 100 } },
      { ...alice.headers, 'idempotency-key': randomUUID() },
    );
    expect(errorCodes(twoFields)).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT']);
    expect(await paymentsOf(order.id)).toBe(0);
  });

  it('refuses anonymous payment mutations', async () => {
    const order = await newOrder();
    const res = await gql(server, PAY_ORDER, { input: { orderId: order.id, amountCents: 100 }, key: randomUUID() });
    expect(errorCodes(res)).toEqual(['UNAUTHENTICATED']);
    expect(await paymentsOf(order.id)).toBe(0);
  });

  it("scopes keys to their principal: another principal's identical key is a new operation", async () => {
    const order = await newOrder(server, alice, 2);
    const key = randomUUID();
    const fromAlice = await pay(order.id, 400, key, alice);
    const fromBob = await pay(order.id, 400, key, bob);
    expect(fromBob.headers.get('idempotent-replayed')).toBeNull();
    expect(fromBob.body.data!.payOrder.payment.id).not.toBe(fromAlice.body.data!.payOrder.payment.id);
    expect(await paymentsOf(order.id)).toBe(2);
  });

  it('keeps createUser keys optional', async () => {
    const query = `mutation($k: String) { createUser(input: { email: "opt-${randomUUID()}@example.com", name: "O" }, idempotencyKey: $k) { user { id } } }`;
    const plain = await gql(server, query, {}, alice.headers);
    expect(plain.body.errors).toBeUndefined();
    const key = randomUUID();
    const keyed = await gql(server, query.replace('opt-', 'opt2-'), { k: key }, alice.headers);
    const again = await gql(server, query.replace('opt-', 'opt2-'), { k: key }, alice.headers);
    expect(again.body.data).toEqual(keyed.body.data);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });
});

describe('invariants without keys', () => {
  it('two keys racing to pay one order in full: one payment and one ORDER_ALREADY_PAID', async () => {
    const order = await newOrder();
    const results = await Promise.all([
      pay(order.id, order.totalCents, randomUUID()),
      pay(order.id, order.totalCents, randomUUID()),
    ]);
    expect(results.map((res) => errorCodes(res)).sort()).toEqual([[], ['ORDER_ALREADY_PAID']]);
    expect(await paymentsOf(order.id)).toBe(1);
  });

  it('concurrent partial refunds never refund more than was paid', async () => {
    const order = await newOrder(server, alice, 4); // 10000 cents
    const paid = await pay(order.id, order.totalCents, randomUUID());
    const paymentId = paid.body.data!.payOrder.payment.id as string;
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        gql(server, REFUND, { input: { paymentId, amountCents: 1500 }, key: randomUUID() }, alice.headers),
      ),
    );
    const succeeded = results.filter((res) => !res.body.errors);
    expect(succeeded).toHaveLength(Math.floor(order.totalCents / 1500));
    for (const res of results.filter((r) => r.body.errors)) expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
    const refunded = await countRows(
      server,
      sql`select coalesce(sum(amount_cents), 0)::int as n from refunds where payment_id = ${Number(paymentId)}`,
    );
    expect(refunded).toBe(succeeded.length * 1500);
    const [payment] = await server.app.database.rows<{ refunded_cents: number; status: string }>(
      server.app.database.db,
      sql`select refunded_cents, status from payments where id = ${Number(paymentId)}`,
    );
    expect(payment).toEqual({ refunded_cents: refunded, status: 'PARTIALLY_REFUNDED' });

    // Refund the rest: the payment and the order become REFUNDED.
    const rest = await gql(
      server,
      REFUND,
      { input: { paymentId, amountCents: order.totalCents - refunded }, key: randomUUID() },
      alice.headers,
    );
    expect(rest.body.data!.refundPayment.payment).toMatchObject({
      refundedCents: order.totalCents,
      status: 'REFUNDED',
      order: { status: 'REFUNDED' },
    });
  });
});

describe('failures before commit', () => {
  it('leave neither a key nor rows, and the retry then executes', async () => {
    const order = await newOrder();
    const { database } = server.app;
    // A deferred constraint trigger fails the transaction at COMMIT, after every write of the mutation is done.
    await database.db.execute(sql`create function fail_at_commit() returns trigger language plpgsql as $$
      begin raise exception 'injected commit failure' using errcode = '40001'; end $$`);
    await database.db.execute(sql`create constraint trigger fail_at_commit after insert on payments
      deferrable initially deferred for each row execute function fail_at_commit()`);
    const key = randomUUID();
    let failed: GraphQLResponse;
    try {
      failed = await pay(order.id, order.totalCents, key);
    } finally {
      await database.db.execute(sql`drop trigger fail_at_commit on payments`);
      await database.db.execute(sql`drop function fail_at_commit()`);
    }
    expect(errorCodes(failed)).toEqual(['INTERNAL_SERVER_ERROR']);
    expect(JSON.stringify(failed.body)).not.toMatch(/injected|trigger/);
    expect(await paymentsOf(order.id)).toBe(0);
    expect(await countRows(server, sql`select count(*)::int as n from idempotency_keys where key = ${key}`)).toBe(0);

    const retry = await pay(order.id, order.totalCents, key);
    expect(retry.body.errors).toBeUndefined();
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await paymentsOf(order.id)).toBe(1);
  });
});

describe('expiry', () => {
  it('treats an expired key as new, and the purge deletes expired keys', async () => {
    const shortLived = await startServer({ env: { ...ENV, IDEMPOTENCY_TTL_SECONDS: '1' } });
    try {
      await shortLived.app.database.db
        .insert(products)
        .values({ sku: 'IDEM-1', name: 'Widget', priceCents: 2500, currency: 'USD' });
      const carol = await createPrincipal(shortLived, 'admin');
      productId = '1';
      const order = await newOrder(shortLived, carol, 2);
      const key = randomUUID();
      await pay(order.id, 1000, key, carol, shortLived);
      expect(errorCodes(await pay(order.id, 2000, key, carol, shortLived))).toEqual(['IDEMPOTENCY_KEY_REUSED']);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const reused = await pay(order.id, 2000, key, carol, shortLived);
      expect(reused.body.errors).toBeUndefined();
      expect(reused.headers.get('idempotent-replayed')).toBeNull();
      expect(await paymentsOf(order.id, shortLived)).toBe(2);

      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await purgeExpiredKeys(shortLived.app.database, 1)).toBeGreaterThanOrEqual(2);
      expect(await countRows(shortLived, sql`select count(*)::int as n from idempotency_keys`)).toBe(0);
    } finally {
      await shortLived.close();
    }
  });
});

describe.runIf(usingPostgres)('across connections and instances (Postgres)', () => {
  let shared: TestDatabase;
  let first: TestServer;
  let second: TestServer;
  let dave: TestPrincipal;

  beforeAll(async () => {
    shared = await createTestDatabase();
    first = await startServer({ database: shared, env: { ...ENV, IDEMPOTENCY_WAIT_MS: '400' } });
    second = await startServer({ database: shared, env: { ...ENV, IDEMPOTENCY_WAIT_MS: '10000' } });
    await first.app.database.db
      .insert(products)
      .values({ sku: 'IDEM-2', name: 'Gadget', priceCents: 4000, currency: 'USD' });
    dave = await createPrincipal(first, 'admin');
  });
  afterAll(async () => {
    await Promise.all([first?.close(), second?.close()]);
    await shared?.drop();
  });

  it('two server instances receiving the same key at once execute it once', async () => {
    productId = '1';
    const order = await newOrder(first, dave);
    const key = randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pay(order.id, order.totalCents, key, dave, i % 2 ? first : second)),
    );
    expect(new Set(responses.map((res) => JSON.stringify(res.body.data))).size).toBe(1);
    expect(responses.every((res) => !res.body.errors)).toBe(true);
    expect(await paymentsOf(order.id, first)).toBe(1);
  });

  it('a duplicate that waits too long gets IDEMPOTENCY_KEY_IN_USE, and the original still completes once', async () => {
    const order = await newOrder(first, dave);
    // Hold the order row from another connection so the first payOrder stalls inside its transaction, key claimed.
    const blocker = postgres(shared.url!, { max: 1, onnotice: () => {} });
    const reserved = await blocker.reserve();
    try {
      await reserved`begin`;
      await reserved`select id from orders where id = ${Number(order.id)} for update`;
      const key = randomUUID();
      const original = pay(order.id, order.totalCents, key, dave, second);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const duplicate = await pay(order.id, order.totalCents, key, dave, first);
      expect(errorCodes(duplicate)).toEqual(['IDEMPOTENCY_KEY_IN_USE']);
      expect(duplicate.body.errors![0]!.extensions!.retryAfterSeconds).toBe(1);
      await reserved`commit`;
      const completed = await original;
      expect(completed.body.errors).toBeUndefined();
      const replay = await pay(order.id, order.totalCents, key, dave, first);
      expect(replay.body.data).toEqual(completed.body.data);
      expect(await paymentsOf(order.id, first)).toBe(1);
    } finally {
      reserved.release();
      await blocker.end();
    }
  });
});
