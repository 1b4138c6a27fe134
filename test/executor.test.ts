/**
 * graphql-jit (the default executor) and graphql-js must be indistinguishable to clients: the same data, the same
 * errors with the same codes, paths and locations, for the same requests on identical data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoData } from '../src/db/seed.js';
import { clientAs } from './support/principals.js';
import { gql, startServer, type Client, type TestServer } from './support/server.js';

let jit: TestServer;
let reference: TestServer;
let asJit: Client;
let asReference: Client;

beforeAll(async () => {
  [jit, reference] = await Promise.all([
    startServer({ env: { GRAPHQL_EXECUTOR: 'jit' } }),
    startServer({ env: { GRAPHQL_EXECUTOR: 'graphql-js' } }),
  ]);
  const options = { users: 15, products: 10, ordersPerUser: 3, seed: 11 };
  await Promise.all([seedDemoData(jit.app.database.db, options), seedDemoData(reference.app.database.db, options)]);
  // The same (16th) user on both sides, as admin: the reads below need authentication.
  [asJit, asReference] = await Promise.all([clientAs(jit, 'admin'), clientAs(reference, 'admin')]);
});
afterAll(() => Promise.all([jit?.close(), reference?.close()]));

const cases: Array<[string, string, Record<string, unknown>?]> = [
  ['nested relations', `{ orders(first: 20) { edges { cursor node { id status createdAt user { name orders(first: 2) { nodes { id } pageInfo { hasNextPage endCursor } } } items { quantity product { sku priceCents } } payments { amountCents status order { id } } } } pageInfo { hasNextPage endCursor } } }`],
  ['fragments and aliases', `query Q($id: ID!) { a: user(id: $id) { ...U } b: user(id: "2") { ...U } } fragment U on User { id email ... on User { name } }`, { id: '1' }],
  ['unknown and malformed ids', `{ user(id: "999") { id } product(id: "abc") { id } }`],
  ['bad cursor', `{ users(after: "nope") { nodes { id } } }`],
  ['invalid variable', `query($first: Int) { users(first: $first) { nodes { id } } }`, { first: 'ten' }],
  ['missing variable', `query($input: PayOrderInput!) { payOrder(input: $input) { order { id } } }`, {}],
  ['nested invalid variable', `mutation($input: PayOrderInput!) { payOrder(input: $input) { order { id } } }`, { input: { orderId: '1', amountCents: 1.5 } }],
  ['business error', `mutation { payOrder(input: { orderId: "999", amountCents: 5 }) { order { id } } }`],
  ['skip and include', `query($s: Boolean!) { products(first: 3) { nodes { id name @skip(if: $s) sku @include(if: $s) } } }`, { s: true }],
  ['typename and introspection', `{ __typename order(id: 1) { __typename } __type(name: "OrderStatus") { enumValues { name } } }`],
];

describe('executors', () => {
  it.each(cases)('%s: same response from graphql-jit and graphql-js', async (_name, query, variables) => {
    const [fromJit, fromReference] = await Promise.all([gql(asJit, query, variables), gql(asReference, query, variables)]);
    expect(fromJit.status).toBe(fromReference.status);
    expect(fromJit.body).toEqual(fromReference.body);
  });
});

/** The response body as sent, to compare bytes. */
async function rawBody(client: Client, query: string): Promise<string> {
  const response = await fetch(`${client.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...client.headers },
    body: JSON.stringify({ query }),
  });
  return response.text();
}

// Clients may compare bodies as text (caches, signatures, snapshot tests): successful results must be byte-identical,
// key order included, with nulls where the types allow them, aliases, enums, __typename and skipped fields.
const dataOnly: Array<[string, string]> = [
  ['relations and pages', `{ orders(first: 20) { nodes { id status totalCents user { name email } items { quantity product { sku name priceCents currency } } payments { amountCents status order { id } } } pageInfo { hasNextPage endCursor } } }`],
  ['nulls and aliases', `{ missing: order(id: "99999") { id } a: user(id: "1") { id n: name } users(first: 100) { pageInfo { hasNextPage endCursor } nodes { __typename id orders(first: 1, status: REFUNDED) { nodes { id } pageInfo { endCursor } } } } }`],
  ['skipped fields', `{ products(first: 3) { nodes { id name @skip(if: true) sku @include(if: false) priceCents } } }`],
];

describe('response bodies', () => {
  it.each(dataOnly)('%s: the same bytes from both executors', async (_name, query) => {
    const [fromJit, fromReference] = await Promise.all([rawBody(asJit, query), rawBody(asReference, query)]);
    expect(JSON.parse(fromJit).errors).toBeUndefined();
    expect(fromJit).toBe(fromReference);
  });
});
