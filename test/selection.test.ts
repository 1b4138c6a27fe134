/**
 * Loaders and list queries select only the columns an operation's fields need (src/graphql/selection.ts). A field
 * whose columns were left out would answer null or fail, so every field of every type is queried alone, at every
 * path that reaches it, and must answer exactly what it answers in a query selecting everything; fragments, inline
 * fragments and aliases must count as selections too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoData } from '../src/db/seed.js';
import { clientAs } from './support/principals.js';
import { gql, startServer, type Client, type TestServer } from './support/server.js';

let server: TestServer;
let admin: Client;

beforeAll(async () => {
  server = await startServer();
  await seedDemoData(server.app.database.db, { users: 6, products: 5, ordersPerUser: 3, seed: 11 });
  admin = await clientAs(server, 'admin');
});
afterAll(() => server?.close());

/** A selection tree: a leaf is `true`; a field with arguments is written `name(args)`. */
type Tree = { [field: string]: true | Tree };

const PRODUCT: Tree = { id: true, sku: true, name: true, priceCents: true, currency: true };
const PAYMENT_SCALARS: Tree = { id: true, amountCents: true, refundedCents: true, currency: true, status: true, createdAt: true };
const ORDER_SCALARS: Tree = { id: true, status: true, currency: true, totalCents: true, createdAt: true };
const USER_SCALARS: Tree = { id: true, email: true, name: true, createdAt: true };
const ORDER: Tree = {
  ...ORDER_SCALARS,
  user: USER_SCALARS,
  items: { id: true, quantity: true, unitPriceCents: true, product: PRODUCT },
  payments: { ...PAYMENT_SCALARS, order: ORDER_SCALARS },
};
const ROOTS: Tree = {
  'orders(first: 4)': { nodes: ORDER, edges: { cursor: true, node: { id: true } }, pageInfo: { hasNextPage: true, endCursor: true } },
  'users(first: 3)': {
    nodes: { ...USER_SCALARS, 'orders(first: 2)': { nodes: ORDER, pageInfo: { hasNextPage: true, endCursor: true } } },
  },
  'user(id: 2)': USER_SCALARS,
  'order(id: 5)': ORDER,
  'payment(id: 3)': { ...PAYMENT_SCALARS, order: ORDER },
  'products(first: 3)': { nodes: PRODUCT },
  'product(id: 2)': PRODUCT,
};

function render(tree: Tree): string {
  return Object.entries(tree)
    .map(([field, sub]) => (sub === true ? field : `${field} { ${render(sub)} }`))
    .join(' ');
}

/** Every leaf as the path of field names leading to it. */
function leaves(tree: Tree, path: string[] = []): string[][] {
  return Object.entries(tree).flatMap(([field, sub]) => (sub === true ? [[...path, field]] : leaves(sub, [...path, field])));
}

/** A tree selecting only the leaf at `path`. */
function only(path: string[]): Tree {
  const [head, ...rest] = path;
  return { [head!]: rest.length === 0 ? true : only(rest) };
}

/** The values at `path` in a response (lists are flattened, field arguments dropped from the keys). */
function valuesAt(data: unknown, path: string[]): unknown[] {
  let current: unknown[] = [data];
  for (const field of path) {
    const key = field.replace(/\(.*\)$/, '');
    current = current.flatMap((value) => {
      if (value === null || value === undefined) return [value];
      const next = (value as Record<string, unknown>)[key];
      return Array.isArray(next) ? next : [next];
    });
  }
  return current;
}

describe('selecting only the needed columns', () => {
  it('answers every field alone exactly as in a query that selects everything', async () => {
    const full = await gql(admin, `{ ${render(ROOTS)} }`);
    expect(full.body.errors).toBeUndefined();
    const paths = leaves(ROOTS);
    expect(paths.length).toBeGreaterThan(100);
    for (const path of paths) {
      const alone = await gql(admin, `{ ${render(only(path))} }`);
      expect(alone.body.errors, path.join('.')).toBeUndefined();
      const expected = valuesAt(full.body.data, path);
      expect(expected.some((value) => value !== undefined), path.join('.')).toBe(true);
      expect(valuesAt(alone.body.data, path), path.join('.')).toEqual(expected);
    }
  });

  it('counts fields in fragments, inline fragments and aliases', async () => {
    const full = await gql(admin, `{ orders(first: 4) { nodes { ${render(ORDER)} } } }`);
    const fragments = await gql(
      admin,
      `query { orders(first: 4) { nodes { ...OrderBits ... on Order { u: user { email ...UserName } } } } }
       fragment OrderBits on Order { totalCents payments { amountCents } items { product { ... on Product { sku } } } }
       fragment UserName on User { name }`,
    );
    expect(fragments.body.errors).toBeUndefined();
    const nodes = fragments.body.data!.orders.nodes as Array<Record<string, any>>;
    const fullNodes = full.body.data!.orders.nodes as Array<Record<string, any>>;
    expect(nodes.map((node) => [node.totalCents, node.u.email, node.u.name])).toEqual(
      fullNodes.map((node) => [node.totalCents, node.user.email, node.user.name]),
    );
    expect(nodes.map((node) => node.payments)).toEqual(
      fullNodes.map((node) => node.payments.map((payment: { amountCents: number }) => ({ amountCents: payment.amountCents }))),
    );
    expect(nodes.flatMap((node) => node.items.map((item: any) => item.product.sku))).toEqual(
      fullNodes.flatMap((node) => node.items.map((item: any) => item.product.sku)),
    );
  });

  it('answers a mutation payload’s nested relations from narrowed rows', async () => {
    const order = await gql(admin, `{ orders(first: 1, status: PENDING) { nodes { id } } }`);
    const { id } = order.body.data!.orders.nodes[0];
    const paid = await gql(
      admin,
      `mutation($id: ID!, $amount: Int!) { payOrder(input: { orderId: $id, amountCents: $amount }, idempotencyKey: "selection-pay") {
         payment { amountCents order { status user { email } } } order { id payments { amountCents } } } }`,
      { id, amount: 1 },
    );
    expect(paid.body.errors, JSON.stringify(paid.body.errors)).toBeUndefined();
    const after = await gql(admin, `query($id: ID!) { order(id: $id) { status user { email } payments { amountCents } } }`, { id });
    const payload = paid.body.data!.payOrder;
    expect(payload.payment.order).toEqual({ status: after.body.data!.order.status, user: after.body.data!.order.user });
    expect(payload.order.payments).toEqual(after.body.data!.order.payments);
  });
});
