/**
 * createUser, placeOrder and payOrder over real HTTP: the happy paths, every business failure with its code, and
 * proof that a failed mutation writes nothing.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { products } from '../src/db/schema.js';
import { randomUUID } from 'node:crypto';
import { createPrincipal, type TestPrincipal } from './support/principals.js';
import { countRows, errorCodes, gql, startServer, unique, type TestServer } from './support/server.js';

let server: TestServer;
let usd: Array<{ id: string; priceCents: number }>;
let eur: { id: string };
let admin: TestPrincipal;

const CREATE_USER = `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id email name createdAt } } }`;
const PLACE_ORDER = `mutation($input: PlaceOrderInput!, $key: String) { placeOrder(input: $input, idempotencyKey: $key) {
  order { id status currency totalCents user { id } items { quantity unitPriceCents product { id } } payments { id } } } }`;
const PAY_ORDER = `mutation($input: PayOrderInput!, $key: String) { payOrder(input: $input, idempotencyKey: $key) {
  payment { id amountCents currency status order { id } } order { id status payments { amountCents } } } }`;

function count(table: string): Promise<number> {
  return countRows(server, sql`select count(*)::int as n from ${sql.identifier(table)}`);
}

async function createUser(): Promise<string> {
  const res = await gql(server, CREATE_USER, { input: { email: `buyer-${unique()}@example.com`, name: 'Buyer' } }, admin.headers);
  return res.body.data!.createUser.user.id;
}

async function placeOrder(userId: string, items: Array<{ productId: string; quantity: number }>) {
  return gql(server, PLACE_ORDER, { input: { userId, items }, key: randomUUID() }, admin.headers);
}

/** payOrder as an admin, with a fresh idempotency key (idempotency itself is tested in idempotency.test.ts). */
function payOrder(input: { orderId: string; amountCents: number }) {
  return gql(server, PAY_ORDER, { input, key: randomUUID() }, admin.headers);
}

beforeAll(async () => {
  server = await startServer();
  admin = await createPrincipal(server, 'admin');
  const rows = await server.app.database.db
    .insert(products)
    .values([
      { sku: 'M-1', name: 'Mug', priceCents: 1250, currency: 'USD' },
      { sku: 'M-2', name: 'Lamp', priceCents: 4999, currency: 'USD' },
      { sku: 'M-3', name: 'Tea', priceCents: 800, currency: 'EUR' },
    ])
    .returning();
  usd = rows.filter((r) => r.currency === 'USD').map((r) => ({ id: String(r.id), priceCents: r.priceCents }));
  eur = { id: String(rows.find((r) => r.currency === 'EUR')!.id) };
});
afterAll(() => server?.close());

describe('createUser', () => {
  it('creates a user and trims its fields', async () => {
    const email = `ada-${unique()}@example.com`;
    const res = await gql(server, CREATE_USER, { input: { email: `  ${email} `, name: ' Ada ' } }, admin.headers);
    expect(res.body.errors).toBeUndefined();
    const user = res.body.data!.createUser.user;
    expect(user).toMatchObject({ email, name: 'Ada' });
    const fetched = await gql(server, `query($id: ID!) { user(id: $id) { email } }`, { id: user.id }, admin.headers);
    expect(fetched.body.data!.user.email).toBe(email);
  });

  it('refuses a taken email regardless of case with EMAIL_TAKEN', async () => {
    const email = `grace-${unique()}@example.com`;
    await gql(server, CREATE_USER, { input: { email, name: 'Grace' } }, admin.headers);
    const before = await count('users');
    const res = await gql(server, CREATE_USER, { input: { email: email.toUpperCase(), name: 'Grace again' } }, admin.headers);
    expect(errorCodes(res)).toEqual(['EMAIL_TAKEN']);
    expect(res.body.data).toEqual({ createUser: null });
    expect(await count('users')).toBe(before);
  });

  it('rejects invalid input with BAD_USER_INPUT naming the argument', async () => {
    for (const input of [
      { email: 'not-an-email', name: 'X' },
      { email: `${'a'.repeat(250)}@example.com`, name: 'X' },
      { email: `ok-${unique()}@example.com`, name: '   ' },
      { email: `ok-${unique()}@example.com`, name: 'n'.repeat(201) },
    ]) {
      const res = await gql(server, CREATE_USER, { input }, admin.headers);
      expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.body.errors![0]!.extensions!.argument).toMatch(/^input\./);
    }
    const missing = await gql(server, CREATE_USER, { input: { email: 'a@b.co' } }, admin.headers);
    expect(errorCodes(missing)).toEqual(['BAD_USER_INPUT']);
  });
});

describe('placeOrder', () => {
  it('prices items from the catalog and computes the total', async () => {
    const userId = await createUser();
    const res = await placeOrder(userId, [
      { productId: usd[0]!.id, quantity: 2 },
      { productId: usd[1]!.id, quantity: 1 },
    ]);
    expect(res.body.errors).toBeUndefined();
    const order = res.body.data!.placeOrder.order;
    expect(order).toMatchObject({
      status: 'PENDING',
      currency: 'USD',
      totalCents: 2 * usd[0]!.priceCents + usd[1]!.priceCents,
      user: { id: userId },
      payments: [],
    });
    expect(order.items).toEqual([
      { quantity: 2, unitPriceCents: usd[0]!.priceCents, product: { id: usd[0]!.id } },
      { quantity: 1, unitPriceCents: usd[1]!.priceCents, product: { id: usd[1]!.id } },
    ]);
  });

  it('writes nothing when any item fails', async () => {
    const userId = await createUser();
    const [orders, items] = [await count('orders'), await count('order_items')];
    const cases: Array<[Array<{ productId: string; quantity: number }>, string]> = [
      [[{ productId: usd[0]!.id, quantity: 1 }, { productId: '999999', quantity: 1 }], 'NOT_FOUND'],
      [[{ productId: usd[0]!.id, quantity: 1 }, { productId: eur.id, quantity: 1 }], 'BAD_USER_INPUT'],
      [[{ productId: usd[0]!.id, quantity: 1 }, { productId: usd[0]!.id, quantity: 2 }], 'BAD_USER_INPUT'],
      [[{ productId: usd[0]!.id, quantity: 0 }], 'BAD_USER_INPUT'],
      [[{ productId: usd[0]!.id, quantity: 1001 }], 'BAD_USER_INPUT'],
      [[{ productId: 'x1', quantity: 1 }], 'BAD_USER_INPUT'],
      [[], 'BAD_USER_INPUT'],
    ];
    for (const [orderItems, code] of cases) {
      const res = await placeOrder(userId, orderItems);
      expect(errorCodes(res), JSON.stringify(orderItems)).toEqual([code]);
      expect(res.body.data).toEqual({ placeOrder: null });
    }
    const unknownUser = await placeOrder('999999', [{ productId: usd[0]!.id, quantity: 1 }]);
    expect(errorCodes(unknownUser)).toEqual(['NOT_FOUND']);
    expect([await count('orders'), await count('order_items')]).toEqual([orders, items]);
  });
});

describe('payOrder', () => {
  async function pendingOrder(quantity = 1) {
    const res = await placeOrder(await createUser(), [{ productId: usd[1]!.id, quantity }]);
    return res.body.data!.placeOrder.order as { id: string; totalCents: number };
  }

  it('keeps the order PENDING until fully paid, then PAID', async () => {
    const order = await pendingOrder(2);
    const part = await payOrder({ orderId: order.id, amountCents: 1000 });
    expect(part.body.errors).toBeUndefined();
    expect(part.body.data!.payOrder).toMatchObject({
      payment: { amountCents: 1000, currency: 'USD', status: 'SUCCEEDED', order: { id: order.id } },
      order: { id: order.id, status: 'PENDING', payments: [{ amountCents: 1000 }] },
    });
    const rest = await payOrder({ orderId: order.id, amountCents: order.totalCents - 1000 });
    expect(rest.body.data!.payOrder.order).toMatchObject({
      status: 'PAID',
      payments: [{ amountCents: 1000 }, { amountCents: order.totalCents - 1000 }],
    });
    const payment = await gql(
      server,
      `query($id: ID!) { payment(id: $id) { amountCents order { status } } }`,
      { id: rest.body.data!.payOrder.payment.id },
      admin.headers,
    );
    expect(payment.body.data!.payment).toEqual({ amountCents: order.totalCents - 1000, order: { status: 'PAID' } });
  });

  it('refuses paying a paid order (ORDER_ALREADY_PAID) and overpaying (BAD_USER_INPUT), writing nothing', async () => {
    const order = await pendingOrder();
    const over = await payOrder({ orderId: order.id, amountCents: order.totalCents + 1 });
    expect(errorCodes(over)).toEqual(['BAD_USER_INPUT']);
    await payOrder({ orderId: order.id, amountCents: order.totalCents });
    const before = await count('payments');
    const again = await payOrder({ orderId: order.id, amountCents: 1 });
    expect(errorCodes(again)).toEqual(['ORDER_ALREADY_PAID']);
    expect(again.body.data).toEqual({ payOrder: null });
    expect(await count('payments')).toBe(before);
  });

  it('rejects bad amounts, unknown orders and unpayable orders', async () => {
    const order = await pendingOrder();
    for (const amountCents of [0, -5]) {
      const res = await payOrder({ orderId: order.id, amountCents });
      expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
    }
    const fractional = await payOrder({ orderId: order.id, amountCents: 1.5 });
    expect(errorCodes(fractional)).toEqual(['BAD_USER_INPUT']);
    const unknown = await payOrder({ orderId: '999999', amountCents: 100 });
    expect(errorCodes(unknown)).toEqual(['NOT_FOUND']);

    await server.app.database.db.execute(sql`update orders set status = 'CANCELLED' where id = ${Number(order.id)}`);
    const cancelled = await payOrder({ orderId: order.id, amountCents: 100 });
    expect(errorCodes(cancelled)).toEqual(['ORDER_NOT_PAYABLE']);
  });

  it('serialises concurrent payments of one order: never more than the total is paid', async () => {
    const order = await pendingOrder();
    const share = Math.ceil(order.totalCents / 3);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => payOrder({ orderId: order.id, amountCents: share })),
    );
    const succeeded = results.filter((r) => !r.body.errors);
    expect(succeeded.length).toBe(2);
    const rows = await server.app.database.rows<{ paid: number }>(
      server.app.database.db,
      sql`select coalesce(sum(amount_cents), 0)::int as paid from payments where order_id = ${Number(order.id)}`,
    );
    expect(rows[0]!.paid).toBe(2 * share);
    for (const failed of results.filter((r) => r.body.errors)) {
      expect(errorCodes(failed)).toEqual(['BAD_USER_INPUT']);
    }
  });
});
