/**
 * Access control over real HTTP: anonymous callers read the catalog only; a customer reaches their own data and
 * nothing else by any path (ids, nesting, aliases in one batch, hand-made cursors, mutations); an admin reaches
 * everything. Another tenant's object reads as null or NOT_FOUND, never FORBIDDEN.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../src/auth/principal.js';
import { orders, payments } from '../src/db/schema.js';
import { seedDemoData } from '../src/db/seed.js';
import { encodeCursor } from '../src/graphql/pagination.js';
import { clientAs } from './support/principals.js';
import { errorCodes, gql, startServer, usingPostgres, type Client, type TestServer } from './support/server.js';

let server: TestServer;
let anonymous: Client;
let admin: Client;
/** Customers: seeded users 1 and 2. */
let alice: Client;
let bob: Client;
const own = { orderIds: [] as string[], paidOrderId: '', paymentId: '' };
const other = { orderIds: [] as string[], paidOrderId: '', paymentId: '', userId: '2' };

async function customer(userId: number): Promise<Client> {
  const { token } = await createApiToken(server.app.database.db, { userId, role: 'customer' });
  return { url: server.url, headers: { authorization: `Bearer ${token}` } };
}

async function ordersOf(userId: number) {
  const db = server.app.database.db;
  const rows = await db.select().from(orders).where(eq(orders.userId, userId)).orderBy(orders.id);
  const paid = rows.find((row) => row.status === 'PAID')!;
  const [payment] = await db.select().from(payments).where(eq(payments.orderId, paid.id));
  return { orderIds: rows.map((row) => String(row.id)), paidOrderId: String(paid.id), paymentId: String(payment!.id) };
}

beforeAll(async () => {
  server = await startServer({ env: { RATE_LIMIT_ENABLED: 'false' } });
  await seedDemoData(server.app.database.db, { users: 6, products: 10, ordersPerUser: 6, seed: 5 });
  anonymous = { url: server.url };
  admin = await clientAs(server, 'admin');
  [alice, bob] = [await customer(1), await customer(2)];
  Object.assign(own, await ordersOf(1));
  Object.assign(other, await ordersOf(2));
});
afterAll(() => server?.close());

describe('anonymous callers', () => {
  it('read the catalog', async () => {
    const res = await gql(anonymous, `{ products(first: 2) { nodes { id sku } } product(id: 1) { name } }`);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.products.nodes).toHaveLength(2);
  });

  it('read nothing else and write nothing', async () => {
    for (const query of [
      `{ user(id: 1) { id } }`,
      `{ users { nodes { id } } }`,
      `{ order(id: ${own.orderIds[0]}) { id } }`,
      `{ orders { nodes { id } } }`,
      `{ payment(id: ${own.paymentId}) { id } }`,
      `mutation { createUser(input: { email: "anon@example.com", name: "A" }) { user { id } } }`,
      `mutation { placeOrder(input: { userId: 1, items: [{ productId: 1, quantity: 1 }] }, idempotencyKey: "a1") { order { id } } }`,
      `mutation { payOrder(input: { orderId: ${own.orderIds[0]}, amountCents: 1 }, idempotencyKey: "a2") { order { id } } }`,
      `mutation { refundPayment(input: { paymentId: ${own.paymentId}, amountCents: 1 }, idempotencyKey: "a3") { refund { id } } }`,
    ]) {
      const res = await gql(anonymous, query);
      expect(errorCodes(res), query).toEqual(['UNAUTHENTICATED']);
    }
  });
});

describe("a customer cannot reach another customer's data", () => {
  it('by id: user, order and payment read as null', async () => {
    const res = await gql(
      alice,
      `query($u: ID!, $o: ID!, $p: ID!) { user(id: $u) { id } order(id: $o) { id } payment(id: $p) { id } }`,
      { u: other.userId, o: other.orderIds[0], p: other.paymentId },
    );
    expect(res.body).toEqual({ data: { user: null, order: null, payment: null } });
  });

  it('by aliases in one batch: only their own come back', async () => {
    const res = await gql(
      alice,
      `query($a: ID!, $b: ID!, $c: ID!, $pa: ID!, $pb: ID!) {
        a: order(id: $a) { id } b: order(id: $b) { id } c: order(id: $c) { id }
        pa: payment(id: $pa) { id } pb: payment(id: $pb) { id } me: user(id: 1) { id } them: user(id: 2) { id } }`,
      { a: own.orderIds[0], b: other.orderIds[0], c: own.orderIds[1], pa: own.paymentId, pb: other.paymentId },
    );
    expect(res.body.data).toEqual({
      a: { id: own.orderIds[0] },
      b: null,
      c: { id: own.orderIds[1] },
      pa: { id: own.paymentId },
      pb: null,
      me: { id: '1' },
      them: null,
    });
  });

  it('by lists and hand-made cursors: orders pages only ever hold their own', async () => {
    const forged = [encodeCursor('o', 2_000_000_000), encodeCursor('o', Number(other.orderIds.at(-1)) + 1)];
    for (const after of [null, ...forged]) {
      const res = await gql(
        alice,
        `query($after: String) { orders(first: 100, after: $after) { nodes { id user { id } } }
           user(id: 1) { orders(first: 100, after: $after) { nodes { id user { id } } } } }`,
        { after },
      );
      expect(res.body.errors).toBeUndefined();
      const listed = [...res.body.data!.orders.nodes, ...res.body.data!.user.orders.nodes];
      expect(listed.length).toBeGreaterThan(0);
      for (const order of listed) expect(order.user.id).toBe('1');
    }
    const users = await gql(alice, `{ users { nodes { id } } }`);
    expect(errorCodes(users)).toEqual(['FORBIDDEN']);
  });

  it('by nesting: every path from their own objects stays inside their own data', async () => {
    const res = await gql(
      alice,
      `query($p: ID!) { payment(id: $p) { order { user { id orders(first: 100) { nodes { user { id }
         payments { order { user { id } } } items { product { id } } } } } } } }`,
      { p: own.paymentId },
    );
    expect(res.body.errors).toBeUndefined();
    const user = res.body.data!.payment.order.user;
    expect(user.id).toBe('1');
    for (const order of user.orders.nodes) {
      expect(order.user.id).toBe('1');
      for (const payment of order.payments) expect(payment.order.user.id).toBe('1');
    }
    const theirs = await gql(alice, `query($o: ID!) { order(id: $o) { items { id } payments { id } user { id } } }`, {
      o: other.orderIds[0],
    });
    expect(theirs.body).toEqual({ data: { order: null } });
  });

  it('by mutations: placing, paying and refunding for someone else is NOT_FOUND and writes nothing', async () => {
    const before = await gql(admin, `query($u: ID!) { user(id: $u) { orders(first: 100) { nodes { id } } } }`, {
      u: other.userId,
    });
    const place = await gql(
      alice,
      `mutation($u: ID!) { placeOrder(input: { userId: $u, items: [{ productId: 1, quantity: 1 }] }, idempotencyKey: "${randomUUID()}") { order { id } } }`,
      { u: other.userId },
    );
    expect(errorCodes(place)).toEqual(['NOT_FOUND']);
    const pending = (await gql(bob, `{ orders(status: PENDING, first: 1) { nodes { id } } }`)).body.data!.orders.nodes;
    const targetOrder = pending[0]?.id ?? other.orderIds[0];
    const pay = await gql(
      alice,
      `mutation($o: ID!) { payOrder(input: { orderId: $o, amountCents: 1 }, idempotencyKey: "${randomUUID()}") { payment { id } } }`,
      { o: targetOrder },
    );
    expect(errorCodes(pay)).toEqual(['NOT_FOUND']);
    const refund = await gql(
      alice,
      `mutation($p: ID!) { refundPayment(input: { paymentId: $p, amountCents: 1 }, idempotencyKey: "${randomUUID()}") { refund { id } } }`,
      { p: other.paymentId },
    );
    expect(errorCodes(refund)).toEqual(['NOT_FOUND']);
    const createUser = await gql(alice, `mutation { createUser(input: { email: "c@example.com", name: "C" }) { user { id } } }`);
    expect(errorCodes(createUser)).toEqual(['FORBIDDEN']);

    const after = await gql(admin, `query($u: ID!) { user(id: $u) { orders(first: 100) { nodes { id } } } }`, {
      u: other.userId,
    });
    expect(after.body).toEqual(before.body);
    const [payment] = await server.app.database.db.select().from(payments).where(eq(payments.id, Number(other.paymentId)));
    expect(payment!.refundedCents).toBe(0);
  });

  it('while their own orders, payments and refunds work', async () => {
    const placed = await gql(
      alice,
      `mutation { placeOrder(input: { userId: 1, items: [{ productId: 1, quantity: 1 }] }, idempotencyKey: "${randomUUID()}") { order { id totalCents user { id } } } }`,
    );
    const order = placed.body.data!.placeOrder.order;
    expect(order.user.id).toBe('1');
    const paid = await gql(
      alice,
      `mutation($o: ID!, $a: Int!) { payOrder(input: { orderId: $o, amountCents: $a }, idempotencyKey: "${randomUUID()}") { payment { id } order { status } } }`,
      { o: order.id, a: order.totalCents },
    );
    expect(paid.body.data!.payOrder.order.status).toBe('PAID');
    const refunded = await gql(
      alice,
      `mutation($p: ID!) { refundPayment(input: { paymentId: $p, amountCents: 1 }, idempotencyKey: "${randomUUID()}") { payment { status } } }`,
      { p: paid.body.data!.payOrder.payment.id },
    );
    expect(refunded.body.data!.refundPayment.payment.status).toBe('PARTIALLY_REFUNDED');
  });
});

describe('admins', () => {
  it("read every tenant's data", async () => {
    const res = await gql(
      admin,
      `query($o: ID!, $p: ID!) { users(first: 100) { nodes { id } } order(id: $o) { user { id } } payment(id: $p) { id } }`,
      { o: other.orderIds[0], p: other.paymentId },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.users.nodes.length).toBeGreaterThanOrEqual(7);
    expect(res.body.data!.order.user.id).toBe(other.userId);
    expect(res.body.data!.payment.id).toBe(other.paymentId);
  });
});

describe.runIf(usingPostgres)('token scripts (Postgres)', () => {
  const run = promisify(execFile);

  it('token:create prints the token alone on its last line; token:revoke makes it fail with 401', async () => {
    const env = { ...process.env, DATABASE_URL: server.config.database.url };
    const created = await run('npm', ['run', '--silent', 'token:create', '--', '--user', '3', '--role', 'customer'], { env });
    const token = created.stdout.trim().split('\n').at(-1)!;
    expect(token).toMatch(/^lgr_[A-Za-z0-9_-]{43}$/);
    const client = { url: server.url, headers: { authorization: `Bearer ${token}` } };
    expect((await gql(client, `{ user(id: 3) { id } }`)).body.data).toEqual({ user: { id: '3' } });

    const id = /Token (\d+)/.exec(created.stderr)![1]!;
    await run('npm', ['run', '--silent', 'token:revoke', '--', '--id', id], { env });
    const revoked = await gql(client, `{ user(id: 3) { id } }`);
    expect(revoked.status).toBe(401);
    expect(errorCodes(revoked)).toEqual(['UNAUTHENTICATED']);
  });
});
