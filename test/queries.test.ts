/**
 * Every query of the contract over real HTTP, on a small deterministic data set: lookups, nested relations,
 * pagination edges and bad arguments.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoData } from '../src/db/seed.js';
import { clientAs } from './support/principals.js';
import { errorCodes, gql, startServer, type Client, type GraphQLResponse, type TestServer } from './support/server.js';

let server: TestServer;
/** Reads here are an admin's: who may read what is tested in access.test.ts. */
let admin: Client;

beforeAll(async () => {
  server = await startServer();
  await seedDemoData(server.app.database.db, { users: 12, products: 8, ordersPerUser: 3, seed: 7 });
  admin = await clientAs(server, 'admin'); // user 13
});
afterAll(() => server?.close());

describe('single lookups', () => {
  it('returns a user, product, order and payment by id', async () => {
    const res = await gql(
      admin,
      `{ user(id: "1") { id email name createdAt }
         product(id: "2") { id sku name priceCents currency }
         order(id: "3") { id status currency totalCents createdAt }
         payment(id: "1") { id amountCents currency status createdAt order { id } } }`,
    );
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    const { user, product, order, payment } = res.body.data!;
    expect(user).toMatchObject({ id: '1', email: 'user1@example.com' });
    expect(new Date(user.createdAt).toISOString()).toBe(user.createdAt);
    expect(product).toMatchObject({ id: '2', sku: 'SKU-00002' });
    expect(Number.isInteger(product.priceCents)).toBe(true);
    expect(order.id).toBe('3');
    expect(['PENDING', 'PAID', 'REFUNDED', 'CANCELLED']).toContain(order.status);
    expect(payment.order.id).toMatch(/^\d+$/);
  });

  it('returns null for an unknown id and BAD_USER_INPUT for a malformed one', async () => {
    const unknown = await gql(admin, `{ user(id: "999999") { id } order(id: "2147483647") { id } }`);
    expect(unknown.body).toEqual({ data: { user: null, order: null } });

    for (const id of ['abc', '0', '-1', '1.5', '2147483648', '', ' 1', '01']) {
      const res = await gql(admin, `query($id: ID!) { product(id: $id) { id } }`, { id });
      expect(errorCodes(res), `id ${JSON.stringify(id)}`).toEqual(['BAD_USER_INPUT']);
      expect(res.body.data).toEqual({ product: null });
    }
  });

  it('accepts an integer literal as an ID', async () => {
    const res = await gql(admin, `{ user(id: 1) { id } }`);
    expect(res.body.data).toEqual({ user: { id: '1' } });
  });
});

describe('relations', () => {
  it('resolves an order with its user, items, products and payments consistently', async () => {
    const res = await gql(
      admin,
      `{ orders(first: 36) { nodes { id status totalCents currency user { id } items { quantity unitPriceCents product { id currency } } payments { amountCents currency status order { id } } } } }`,
    );
    expect(res.body.errors).toBeUndefined();
    const orders = res.body.data!.orders.nodes as any[];
    expect(orders).toHaveLength(36);
    for (const order of orders) {
      const total = order.items.reduce((sum: number, item: any) => sum + item.quantity * item.unitPriceCents, 0);
      expect(order.totalCents).toBe(total);
      expect(order.items.length).toBeGreaterThan(0);
      for (const item of order.items) expect(item.product.currency).toBe(order.currency);
      for (const payment of order.payments) {
        expect(payment.order.id).toBe(order.id);
        expect(payment.currency).toBe(order.currency);
      }
      if (order.status === 'PAID') {
        expect(order.payments.reduce((sum: number, p: any) => sum + p.amountCents, 0)).toBe(order.totalCents);
      }
      if (order.status === 'CANCELLED') expect(order.payments).toEqual([]);
    }
  });

  it("pages a user's orders newest first, filtered by status", async () => {
    const all = await gql(admin, `{ orders(first: 100) { nodes { id status user { id } } } }`);
    const byUser = new Map<string, any[]>();
    for (const order of all.body.data!.orders.nodes) {
      byUser.set(order.user.id, [...(byUser.get(order.user.id) ?? []), order]);
    }
    const [userId, orders] = [...byUser.entries()].sort((a, b) => b[1].length - a[1].length)[0]!;
    const res = await gql(
      admin,
      `query($id: ID!) { user(id: $id) { orders(first: 1) { nodes { id } pageInfo { hasNextPage endCursor } }
                                          paid: orders(status: PAID) { nodes { id status } } } }`,
      { id: userId },
    );
    const user = res.body.data!.user;
    expect(user.orders.nodes).toEqual([{ id: orders[0].id }]);
    expect(user.orders.pageInfo.hasNextPage).toBe(orders.length > 1);
    expect(user.paid.nodes).toEqual(orders.filter((o) => o.status === 'PAID').map((o) => ({ id: o.id, status: 'PAID' })));
  });
});

describe('pagination', () => {
  const usersPage = `query($first: Int, $after: String) {
    users(first: $first, after: $after) { edges { cursor node { id } } nodes { id } pageInfo { hasNextPage endCursor } } }`;

  it('walks every page exactly once, first to last', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const res: GraphQLResponse = await gql(admin, usersPage, { first: 5, after });
      expect(res.body.errors).toBeUndefined();
      const connection: any = res.body.data!.users;
      expect(connection.nodes).toEqual(connection.edges.map((edge: any) => edge.node));
      seen.push(...connection.nodes.map((node: any) => node.id));
      pages++;
      if (!connection.pageInfo.hasNextPage) {
        expect(connection.pageInfo.endCursor).toBe(connection.edges.at(-1).cursor);
        break;
      }
      after = connection.pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 13 }, (_, i) => String(i + 1)));
  });

  it('defaults first to 20 and returns an empty last page with a null endCursor', async () => {
    const res = await gql(admin, `{ orders { nodes { id } pageInfo { hasNextPage } } }`);
    expect(res.body.data!.orders.nodes).toHaveLength(20);
    expect(res.body.data!.orders.pageInfo.hasNextPage).toBe(true);

    const last = await gql(admin, usersPage, { first: 13 });
    const end = await gql(admin, usersPage, { first: 5, after: last.body.data!.users.pageInfo.endCursor });
    expect(end.body.data!.users).toEqual({ edges: [], nodes: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it('pages orders newest first, within a status', async () => {
    const first = await gql(admin, `{ orders(first: 3, status: PAID) { nodes { id status } pageInfo { endCursor } } }`);
    const ids = first.body.data!.orders.nodes.map((n: any) => Number(n.id));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(first.body.data!.orders.nodes.every((n: any) => n.status === 'PAID')).toBe(true);
    const next = await gql(admin, `query($after: String) { orders(first: 3, status: PAID, after: $after) { nodes { id } } }`, {
      after: first.body.data!.orders.pageInfo.endCursor,
    });
    expect(Number(next.body.data!.orders.nodes[0].id)).toBeLessThan(ids.at(-1)!);
  });

  it('pages products in id order', async () => {
    const res = await gql(admin, `{ products(first: 100) { nodes { id } pageInfo { hasNextPage } } }`);
    expect(res.body.data!.products.nodes.map((n: any) => n.id)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
    expect(res.body.data!.products.pageInfo.hasNextPage).toBe(false);
  });

  it('rejects first out of range and foreign or forged cursors with BAD_USER_INPUT', async () => {
    const orderCursor = (await gql(admin, `{ orders(first: 1) { pageInfo { endCursor } } }`)).body.data!.orders.pageInfo
      .endCursor;
    const cases: Array<Record<string, unknown>> = [
      { first: 0 },
      { first: -1 },
      { first: 101 },
      { after: 'not-a-cursor' },
      { after: '' },
      { after: orderCursor },
      { after: Buffer.from('u:0').toString('base64url') },
      { after: Buffer.from('u:99999999999').toString('base64url') },
      { after: 'x'.repeat(5000) },
    ];
    for (const variables of cases) {
      const res = await gql(admin, usersPage, variables);
      expect(errorCodes(res), JSON.stringify(variables).slice(0, 80)).toEqual(['BAD_USER_INPUT']);
      expect(res.status).toBe(200);
    }
  });
});
