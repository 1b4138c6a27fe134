/**
 * The product's headline claim: the number of SQL statements an operation costs depends on the shape of the query,
 * never on how many rows it returns. Counted at the driver and reported in the response's debug extensions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoData } from '../src/db/seed.js';
import { clientAs } from './support/principals.js';
import { gql, startServer, type Client, type TestServer } from './support/server.js';

let server: TestServer;
let admin: Client;

beforeAll(async () => {
  server = await startServer({ env: { GRAPHQL_DEBUG_EXTENSIONS: 'true' } });
  await seedDemoData(server.app.database.db, { users: 120, products: 30, ordersPerUser: 4, seed: 3 });
  admin = await clientAs(server, 'admin');
});
afterAll(() => server?.close());

async function statementsOf(query: string, variables?: Record<string, unknown>) {
  const res = await gql(admin, query, variables);
  expect(res.body.errors).toBeUndefined();
  expect(res.body.extensions?.sql).toMatchObject({ statements: expect.any(Number), timeMs: expect.any(Number) });
  return { statements: res.body.extensions!.sql.statements as number, data: res.body.data! };
}

const ORDERS_TREE = `query($first: Int) { orders(first: $first) { nodes {
  user { name } items { quantity product { name } } payments { amountCents } } } }`;
const USERS_ORDERS = `query($first: Int) { users(first: $first) { nodes {
  orders(first: 5, status: PAID) { nodes { id } pageInfo { hasNextPage endCursor } } } } }`;

describe('statements per operation', () => {
  it.each([1, 10, 100])('orders → user, items → product, payments costs 5 statements for first: %i', async (first) => {
    const { statements, data } = await statementsOf(ORDERS_TREE, { first });
    expect(data.orders.nodes).toHaveLength(first);
    // orders, users, order_items, products, payments: one per relation, whatever the number of rows.
    expect(statements).toBe(5);
  });

  it.each([1, 10, 100])('users → orders(first: 5, status: PAID) costs 2 statements for first: %i', async (first) => {
    const { statements, data } = await statementsOf(USERS_ORDERS, { first });
    expect(data.users.nodes).toHaveLength(first);
    expect(statements).toBe(2);
  });

  it('batches root lookups: two aliased users are one statement', async () => {
    const { statements, data } = await statementsOf(`{ a: user(id: 1) { name } b: user(id: 2) { name } c: user(id: 1) { email } }`);
    expect([typeof data.a.name, typeof data.b.name, typeof data.c.email]).toEqual(['string', 'string', 'string']);
    expect(statements).toBe(1);
  });

  it('batches by argument set: identical page arguments share a statement, differing ones do not', async () => {
    const same = await statementsOf(`{ users(first: 20) { nodes {
      a: orders(first: 2) { nodes { id } } b: orders(first: 2) { nodes { id } } } } }`);
    expect(same.statements).toBe(2);
    const different = await statementsOf(`{ users(first: 20) { nodes {
      a: orders(first: 1) { nodes { id } } b: orders(first: 2) { nodes { id } } c: orders(first: 2, status: PENDING) { nodes { id } } } } }`);
    expect(different.statements).toBe(4);
  });

  it('deep nesting still costs one statement per relation', async () => {
    const { statements } = await statementsOf(`{ payment(id: 1) { order { user { orders(first: 10) { nodes {
      payments { order { items { product { name } } } } } } } } } }`);
    // payment, order, user, user's orders, payments, order (cached rows are not refetched), items, products
    expect(statements).toBeLessThanOrEqual(8);
  });
});

describe('per-parent pages in one statement are the same pages as one by one', () => {
  it('matches each user queried alone, including hasNextPage and endCursor', async () => {
    const batched = await gql(admin, `{ users(first: 30) { nodes { id
      orders(first: 2, status: PAID) { nodes { id status } pageInfo { hasNextPage endCursor } } } } }`);
    for (const user of batched.body.data!.users.nodes) {
      const alone = await gql(
        admin,
        `query($id: ID!) { user(id: $id) { orders(first: 2, status: PAID) { nodes { id status } pageInfo { hasNextPage endCursor } } } }`,
        { id: user.id },
      );
      expect(user.orders).toEqual(alone.body.data!.user.orders);
    }
  });

  it('pages on from a per-parent endCursor', async () => {
    const first = await gql(admin, `{ user(id: 1) { all: orders(first: 100) { nodes { id } } page: orders(first: 2) { pageInfo { endCursor } } } }`);
    const { all, page } = first.body.data!.user;
    const next = await gql(admin, `query($after: String) { user(id: 1) { orders(first: 100, after: $after) { nodes { id } } } }`, {
      after: page.pageInfo.endCursor,
    });
    expect(next.body.data!.user.orders.nodes).toEqual(all.nodes.slice(2));
  });
});
