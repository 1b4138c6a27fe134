/**
 * Query limits (depth, cost, aliases, list size): the measuring function on its own, then the plugin over real HTTP
 * on GET, POST and batched POST, proving that a rejected operation never reaches a resolver or the database.
 *
 * "No SQL ran" is measured at the source: the test wraps `database.forOperation`, through which the HTTP layer makes
 * every request's counted database handle (authentication and resolvers alike), and reads the request's `SqlStats`
 * once the response has arrived. A legitimate query through the same wrapper shows statements being counted.
 */
import { sql } from 'drizzle-orm';
import { getIntrospectionQuery, parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/index.js';
import type { SqlStats } from '../src/db/instrument.js';
import { seedDemoData } from '../src/db/seed.js';
import { buildSchema } from '../src/graphql/schema.js';
import {
  ASSUMED_LIST_SIZE,
  DEFAULT_FIRST,
  findViolation,
  measureOperation,
  queryLimitError,
  type QueryLimits,
} from '../src/query-limits/index.js';
import { clientAs } from './support/principals.js';
import { errorCodes, gql, startServer, type Client, type GraphQLResponse, type TestServer } from './support/server.js';

// ---------------------------------------------------------------------------------------------------------------
// Queries shared by the unit and HTTP tests
// ---------------------------------------------------------------------------------------------------------------

/** The contract's legitimate heavy queries: they must pass the default limits. */
const HEAVY_ORDERS = `{ orders(first: 100) { nodes { user { name } items { quantity product { name } } payments { amountCents } } } }`;
const HEAVY_USERS = `{ users(first: 50) { nodes { orders(first: 5) { nodes { payments { amountCents } } } } } }`;
/** first: 100 fanning out four levels deep (users → orders → items → product). */
const FAN_OUT = `{ users(first: 100) { nodes { orders(first: 100) { nodes { items { product { name } } } } } } }`;
/** order → user → orders → nodes → user → ... : depth 14. */
const DEPTH_BOMB = `{ order(id: 1) { user { orders { nodes { user { orders { nodes { user { orders { nodes { user { orders { nodes { id } } } } } } } } } } } } } }`;
/** Depth 8, cheap: passes the defaults, refused with QUERY_MAX_DEPTH=7. */
const DEPTH_EIGHT = `{ order(id: 1) { user { orders(first: 2) { nodes { user { orders(first: 2) { nodes { id } } } } } } } }`;

function aliasBomb(count: number, selection = 'product(id: 1) { name }'): string {
  return `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${selection}`).join(' ')} }`;
}

function orderItems(count: number): Array<{ productId: string; quantity: number }> {
  return Array.from({ length: count }, (_, i) => ({ productId: String(i + 1), quantity: 1 }));
}

const PLACE_ORDER = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } } }`;

function placeOrderLiteral(count: number): string {
  const items = orderItems(count).map((item) => `{ productId: "${item.productId}", quantity: ${item.quantity} }`);
  return `mutation { placeOrder(input: { userId: "1", items: [${items.join(', ')}] }) { order { id } } }`;
}

const DEFAULTS: QueryLimits = { maxDepth: 10, maxCost: 50_000, maxAliases: 30, maxListSize: 100 };

// ---------------------------------------------------------------------------------------------------------------
// The pure function
// ---------------------------------------------------------------------------------------------------------------

describe('measureOperation', () => {
  const schema = buildSchema();

  function measure(query: string, variables: Record<string, unknown> = {}, operationName: string | null = null) {
    const document = parse(query);
    expect(validate(schema, document).map((error) => error.message)).toEqual([]);
    return measureOperation(schema, document, operationName, variables);
  }

  it('costs the contract heavy queries below the default maximum and the four-level fan-out far above it', () => {
    // orders: 1 + 100 * (nodes 1 + user 2 + items (1 + 10 * 3) + payments (1 + 10 * 1)) = 1 + 100 * 45
    expect(measure(HEAVY_ORDERS)).toEqual({ depth: 5, cost: 4_501, aliases: 0, largestList: 0 });
    // users: 1 + 50 * (nodes 1 + orders (1 + 5 * (nodes 1 + payments 11)))
    expect(measure(HEAVY_USERS)).toEqual({ depth: 6, cost: 3_101, aliases: 0, largestList: 0 });
    // users: 1 + 100 * (1 + orders (1 + 100 * (1 + items (1 + 10 * 2))))
    expect(measure(FAN_OUT)).toEqual({ depth: 7, cost: 220_201, aliases: 0, largestList: 0 });
    expect(findViolation(measure(HEAVY_ORDERS), DEFAULTS)).toBeUndefined();
    expect(findViolation(measure(HEAVY_USERS), DEFAULTS)).toBeUndefined();
    expect(findViolation(measure(FAN_OUT), DEFAULTS)).toEqual({
      code: 'QUERY_TOO_COMPLEX',
      limit: 'maxCost',
      value: 220_201,
      maximum: 50_000,
    });
  });

  it('costs every field 1 and __typename nothing; __typename adds no depth', () => {
    expect(measure(`{ product(id: 1) { id name __typename } }`)).toMatchObject({ depth: 2, cost: 3 });
    expect(measure(`{ __typename }`)).toMatchObject({ depth: 0, cost: 0 });
    expect(measure(`{ product(id: 1) { __typename } }`)).toMatchObject({ depth: 1, cost: 1 });
  });

  it('multiplies by first from a literal, a variable, a variable default, or 20 when absent or null', () => {
    const page = (first: number) => 1 + first * 2; // orders + first * (nodes + id)
    expect(measure(`{ orders(first: 7) { nodes { id } } }`).cost).toBe(page(7));
    expect(measure(`{ orders { nodes { id } } }`).cost).toBe(page(DEFAULT_FIRST));
    const withVariable = `query($n: Int) { orders(first: $n) { nodes { id } } }`;
    expect(measure(withVariable, { n: 7 }).cost).toBe(page(7));
    expect(measure(withVariable, {}).cost).toBe(page(DEFAULT_FIRST));
    expect(measure(withVariable, { n: null }).cost).toBe(page(DEFAULT_FIRST));
    const withDefault = `query($n: Int = 3) { orders(first: $n) { nodes { id } } }`;
    expect(measure(withDefault, {}).cost).toBe(page(3));
    expect(measure(withDefault, { n: 9 }).cost).toBe(page(9));
    // Out of range values are the resolver's to refuse; the estimate uses them as given (at least 1).
    expect(measure(withVariable, { n: 1000 }).cost).toBe(page(1000));
    expect(measure(withVariable, { n: -5 }).cost).toBe(page(1));
  });

  it('counts a list field without first as its assumed maximum size, but not the page of a connection', () => {
    expect(measure(`{ order(id: 1) { items { id } } }`).cost).toBe(1 + 1 + ASSUMED_LIST_SIZE);
    // edges and nodes are the page `first` already counted.
    expect(measure(`{ users(first: 2) { edges { node { id } } nodes { id } pageInfo { hasNextPage } } }`).cost).toBe(
      1 + 2 * (3 + 2 + 2),
    );
  });

  it('follows fragment spreads and inline fragments exactly like the same selections written inline', () => {
    const inline = measure(`{ orders(first: 10) { nodes { id items { id } } } }`);
    const withFragments = measure(`
      query { orders(first: 10) { ...Page } }
      fragment Page on OrderConnection { nodes { ...OrderFields } }
      fragment OrderFields on Order { id ... on Order { items { id } } ... { a: id } }`);
    expect(withFragments).toEqual({ ...inline, cost: inline.cost + 10, aliases: 1 });
    expect(inline).toEqual({ depth: 4, cost: 1 + 10 * (1 + 1 + (1 + ASSUMED_LIST_SIZE)), aliases: 0, largestList: 0 });
  });

  it('measures fragments in context: a fragment of list fields is free of the list multiplier only inside a connection', () => {
    const measured = measure(`
      query { orders(first: 2) { ...Nodes } order(id: 1) { user { orders(first: 3) { ...Nodes } } } }
      fragment Nodes on OrderConnection { nodes { id } }`);
    // orders(2): 1 + 2 * (1 + 1); order.user.orders(3): 1 + 1 + (1 + 3 * (1 + 1))
    expect(measured.cost).toBe(5 + 9);
  });

  it('measures fragments re-spread exponentially in linear time (memoized per fragment)', () => {
    const levels = 40;
    const fragments = Array.from(
      { length: levels },
      (_, i) => `fragment F${i + 1} on Product { ...F${i} ...F${i} }`,
    ).join('\n');
    const query = `{ product(id: 1) { ...F${levels} } }\nfragment F0 on Product { id alias: name }\n${fragments}`;
    const started = performance.now();
    const measured = measureOperation(schema, parse(query), null, {});
    expect(performance.now() - started).toBeLessThan(500);
    // Each of the 2^40 expansions of F0 costs 2 and holds one alias.
    expect(measured).toEqual({ depth: 2, cost: 1 + 2 * 2 ** levels, aliases: 2 ** levels, largestList: 0 });
  });

  it('counts aliases that differ from the field name, inside fragments too', () => {
    const measured = measure(`
      { a: product(id: 1) { n: name } b: product(id: 2) { name } product(id: 3) { name: name ...P } }
      fragment P on Product { p: priceCents }`);
    expect(measured.aliases).toBe(4);
    expect(measure(aliasBomb(500, '__typename')).aliases).toBe(500);
  });

  it('finds the largest list in literals, variables (nested anywhere) and variable defaults', () => {
    expect(measure(placeOrderLiteral(3)).largestList).toBe(3);
    expect(measure(PLACE_ORDER, { input: { userId: '1', items: orderItems(101) } }).largestList).toBe(101);
    const withDefault = `mutation($items: [OrderItemInput!]! = [{ productId: "1", quantity: 1 }, { productId: "2", quantity: 1 }]) {
      placeOrder(input: { userId: "1", items: $items }) { order { id } } }`;
    expect(measure(withDefault).largestList).toBe(2);
    expect(measure(withDefault, { items: orderItems(7) }).largestList).toBe(7);
    expect(measure(`{ product(id: 1) { id } }`).largestList).toBe(0);
  });

  it('measures the named operation of a multi-operation document', () => {
    const document = `query Cheap { product(id: 1) { id } } query Costly { orders(first: 100) { nodes { items { id } } } }`;
    expect(measure(document, {}, 'Cheap')).toMatchObject({ depth: 2, cost: 2 });
    expect(measure(document, {}, 'Costly').cost).toBe(1 + 100 * (1 + 1 + ASSUMED_LIST_SIZE));
  });

  it('lets the standard introspection query through at no cost, counting introspection depth but for ofType', () => {
    const introspection = measure(getIntrospectionQuery());
    expect(introspection.cost).toBe(0);
    expect(introspection.depth).toBeLessThanOrEqual(DEFAULTS.maxDepth);
    // ofType unwraps a type reference: no level. Everything else inside introspection counts.
    expect(measure(`{ __schema { types { fields { type { ofType { ofType { name } } } } } } }`).depth).toBe(5);
    // Nested introspection bombs never get this far: graphql-js's MaxIntrospectionDepthRule refuses them.
    const bomb = parse(`{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }`);
    expect(validate(schema, bomb).map((error) => error.message)).toEqual(['Maximum introspection depth exceeded']);
  });

  it('reports the first exceeded limit of depth, aliases, list size, cost, with a message naming it', () => {
    const all = { depth: 11, aliases: 31, largestList: 101, cost: 50_001 };
    expect(findViolation(all, DEFAULTS)?.code).toBe('QUERY_TOO_DEEP');
    expect(findViolation({ ...all, depth: 10 }, DEFAULTS)?.code).toBe('TOO_MANY_ALIASES');
    expect(findViolation({ ...all, depth: 10, aliases: 30 }, DEFAULTS)?.code).toBe('LIST_TOO_LARGE');
    expect(findViolation({ ...all, depth: 10, aliases: 30, largestList: 100 }, DEFAULTS)?.code).toBe('QUERY_TOO_COMPLEX');
    expect(findViolation({ depth: 10, aliases: 30, largestList: 100, cost: 50_000 }, DEFAULTS)).toBeUndefined();

    const error = queryLimitError({ code: 'QUERY_TOO_DEEP', limit: 'maxDepth', value: 11, maximum: 10 });
    expect(error.message).toBe('The operation exceeds the maxDepth limit: its depth is 11, the maximum is 10.');
    expect(error.extensions).toEqual({
      code: 'QUERY_TOO_DEEP',
      limit: 'maxDepth',
      value: 11,
      maximum: 10,
      http: { status: 400 },
    });
  });
});

describe('queryLimits configuration', () => {
  it('defaults to depth 10, cost 50000, 30 aliases and lists of 100, and reads each from the environment', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).queryLimits).toEqual(DEFAULTS);
    expect(
      loadConfig({
        NODE_ENV: 'test',
        QUERY_MAX_DEPTH: '5',
        QUERY_MAX_COST: '1000',
        QUERY_MAX_ALIASES: '0',
        QUERY_MAX_LIST_SIZE: '3',
      }).queryLimits,
    ).toEqual({ maxDepth: 5, maxCost: 1000, maxAliases: 0, maxListSize: 3 });
  });

  it('refuses invalid values, naming each variable', () => {
    try {
      loadConfig({ QUERY_MAX_DEPTH: '0', QUERY_MAX_COST: 'lots', QUERY_MAX_LIST_SIZE: '-1' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems.join('\n');
      for (const name of ['QUERY_MAX_DEPTH', 'QUERY_MAX_COST', 'QUERY_MAX_LIST_SIZE']) expect(problems).toContain(name);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Over real HTTP
// ---------------------------------------------------------------------------------------------------------------

type Body = GraphQLResponse['body'];

/** GETs one operation (Apollo's CSRF protection requires a preflight-forcing header on GET). */
async function getQuery(client: Client, query: string, variables?: Record<string, unknown>) {
  const url = new URL(`${client.url}/graphql`);
  url.searchParams.set('query', query);
  if (variables) url.searchParams.set('variables', JSON.stringify(variables));
  const response = await fetch(url, { headers: { 'apollo-require-preflight': 'true', ...client.headers } });
  return { status: response.status, body: (await response.json()) as Body };
}

/** POSTs several operations as one batched request. */
async function postBatch(client: Client, operations: Array<{ query: string; variables?: Record<string, unknown> }>) {
  const response = await fetch(`${client.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...client.headers },
    body: JSON.stringify(operations),
  });
  return { status: response.status, body: (await response.json()) as Body[] };
}

/**
 * Runs `send` and counts the SQL statements the server ran for it, by wrapping the one door to the per-request
 * counted database handle. Requests are sent one at a time in this file, so every statement counted is `send`'s.
 */
async function countStatements<T>(server: TestServer, send: () => Promise<T>): Promise<{ result: T; statements: number }> {
  const database = server.app.database;
  const original = database.forOperation;
  const seen = new Set<SqlStats>();
  database.forOperation = (stats) => {
    seen.add(stats);
    return original.call(database, stats);
  };
  try {
    const result = await send();
    return { result, statements: [...seen].reduce((sum, stats) => sum + stats.statements, 0) };
  } finally {
    database.forOperation = original;
  }
}

function expectRejected(body: Body, code: string, limit: keyof QueryLimits, value: number, maximum: number): void {
  expect(body.data).toBeUndefined();
  expect(body.errors).toHaveLength(1);
  const [error] = body.errors!;
  expect(error!.extensions).toEqual({ code, limit, value, maximum });
  expect(error!.message).toContain(limit);
  expect(error!.message).toContain(String(value));
  expect(error!.message).toContain(String(maximum));
}

interface Rejection {
  name: string;
  query: string;
  code: string;
  limit: keyof QueryLimits;
  value: number;
  maximum: number;
  /** A variant for GET when the POST query would not fit in a URL (Node refuses headers over 16 KiB with a 431). */
  get?: { query: string; value: number };
}

const rejections: Rejection[] = [
  {
    name: 'an alias bomb (500 aliased product lookups)',
    query: aliasBomb(500),
    code: 'TOO_MANY_ALIASES',
    limit: 'maxAliases',
    value: 500,
    maximum: 30,
    get: { query: aliasBomb(100), value: 100 },
  },
  { name: 'an alias bomb of __typename', query: aliasBomb(500, '__typename'), code: 'TOO_MANY_ALIASES', limit: 'maxAliases', value: 500, maximum: 30 },
  { name: 'a depth bomb', query: DEPTH_BOMB, code: 'QUERY_TOO_DEEP', limit: 'maxDepth', value: 14, maximum: 10 },
  { name: 'a first: 100 fan-out four levels deep', query: FAN_OUT, code: 'QUERY_TOO_COMPLEX', limit: 'maxCost', value: 220_201, maximum: 50_000 },
];

describe('query limits over HTTP', () => {
  let server: TestServer;
  let admin: Client;

  beforeAll(async () => {
    server = await startServer();
    await seedDemoData(server.app.database.db, { users: 12, products: 8, ordersPerUser: 3, seed: 7 });
    // Queries run as an admin so that accepted operations reach the data (access rules are tested elsewhere).
    admin = await clientAs(server, 'admin');
  });
  afterAll(() => server?.close());

  it('lets the contract heavy queries (and a depth-8 query) through, on POST and GET, running SQL', async () => {
    for (const query of [HEAVY_ORDERS, HEAVY_USERS]) {
      const post = await countStatements(server, () => gql(admin, query));
      expect(post.result.status).toBe(200);
      expect(post.result.body.errors).toBeUndefined();
      expect(post.statements).toBeGreaterThan(0);
      const get = await getQuery(admin, query);
      expect(get.status).toBe(200);
      expect(get.body).toEqual(post.result.body);
    }
    const deep = await gql(admin, DEPTH_EIGHT);
    expect(deep.body.errors).toBeUndefined();
    const orders = (await gql(admin, HEAVY_ORDERS)).body.data!.orders.nodes as any[];
    expect(orders).toHaveLength(36);
    expect(orders[0].items[0].product.name).toEqual(expect.any(String));
  });

  for (const rejection of rejections) {
    it(`rejects ${rejection.name} with ${rejection.code} on POST and GET, before any SQL`, async () => {
      const post = await countStatements(server, () => gql(admin, rejection.query));
      expect(post.result.status).toBe(400);
      expectRejected(post.result.body, rejection.code, rejection.limit, rejection.value, rejection.maximum);
      expect(post.statements).toBe(0);

      const viaGet = rejection.get ?? rejection;
      const get = await countStatements(server, () => getQuery(admin, viaGet.query));
      expect(get.result.status).toBe(400);
      expectRejected(get.result.body, rejection.code, rejection.limit, viaGet.value, rejection.maximum);
      expect(get.statements).toBe(0);
    });
  }

  it('rejects placeOrder with 101 items (literal or variable) with LIST_TOO_LARGE before any SQL', async () => {
    const countOrders = async () =>
      (await server.app.database.rows<{ n: number }>(server.app.database.db, sql`select count(*)::int as n from orders`))[0]!.n;
    const before = await countOrders();
    for (const send of [
      () => gql(admin, placeOrderLiteral(101)),
      () => gql(admin, PLACE_ORDER, { input: { userId: '1', items: orderItems(101) } }),
    ]) {
      const { result, statements } = await countStatements(server, send);
      expect(result.status).toBe(400);
      expectRejected(result.body, 'LIST_TOO_LARGE', 'maxListSize', 101, 100);
      expect(statements).toBe(0);
    }
    expect(await countOrders()).toBe(before);

    // 100 items are within the limit: the resolver gets to judge them (8 products exist, so it refuses product 9).
    const allowed = await gql(admin, PLACE_ORDER, { input: { userId: '1', items: orderItems(100) } });
    expect(errorCodes(allowed)).not.toContain('LIST_TOO_LARGE');
  });

  it('cannot be bypassed with a mutation over GET: Apollo refuses it before the limits, and runs no SQL', async () => {
    // No query field takes a list, so over GET a list-size violation can only come with a mutation.
    const { result, statements } = await countStatements(server, () =>
      getQuery(admin, PLACE_ORDER, { input: { userId: '1', items: orderItems(101) } }),
    );
    expect(result.status).toBe(405);
    expect(result.body.data).toBeUndefined();
    expect(statements).toBe(0);
  });

  it('rejects only the offending operations of a batched POST', async () => {
    const { result, statements } = await countStatements(server, () =>
      postBatch(admin, [
        { query: `{ product(id: 1) { name } }` },
        ...rejections.map((rejection) => ({ query: rejection.query })),
        { query: PLACE_ORDER, variables: { input: { userId: '1', items: orderItems(101) } } },
        { query: HEAVY_USERS },
      ]),
    );
    const bodies = result.body;
    expect(bodies).toHaveLength(rejections.length + 3);
    expect(bodies[0]).toEqual({ data: { product: { name: expect.any(String) } } });
    rejections.forEach((rejection, i) =>
      expectRejected(bodies[i + 1]!, rejection.code, rejection.limit, rejection.value, rejection.maximum),
    );
    expectRejected(bodies[rejections.length + 1]!, 'LIST_TOO_LARGE', 'maxListSize', 101, 100);
    expect(bodies.at(-1)!.errors).toBeUndefined();
    expect(bodies.at(-1)!.data!.users.nodes).toHaveLength(13); // 12 seeded users and the admin
    expect(statements).toBeGreaterThan(0);
    // Apollo shares one HTTP head across a batch: a rejection must not turn the others' results into a failure.
    expect(result.status).toBe(200);

    const onlyBad = await countStatements(server, () => postBatch(admin, rejections.map(({ query }) => ({ query }))));
    onlyBad.result.body.forEach((body, i) => expect(body.errors?.[0]?.extensions?.code).toBe(rejections[i]!.code));
    expect(onlyBad.statements).toBe(0);
  });

  it('answers a pathologically deep query with a client error, never a 500', async () => {
    // 6,000 levels: graphql-js's recursive parser gives up first (GRAPHQL_PARSE_FAILED); measuring, which recurses less
    // per level, copes with any document the parser accepts (about 3,600 levels of this shape).
    const levels = 2_000;
    const query = `{ order(id: 1) { ${'user { orders { nodes { '.repeat(levels)}id${' } } }'.repeat(levels)} } }`;
    const { result, statements } = await countStatements(server, () => gql(admin, query));
    expect(result.status).toBe(400);
    expect(result.body.data).toBeUndefined();
    expect(statements).toBe(0);
  });
});

describe('query limits read from the environment', () => {
  let server: TestServer;
  let admin: Client;

  beforeAll(async () => {
    server = await startServer({
      env: { QUERY_MAX_DEPTH: '7', QUERY_MAX_COST: '3000000', QUERY_MAX_ALIASES: '600', QUERY_MAX_LIST_SIZE: '2' },
    });
    await seedDemoData(server.app.database.db, { users: 3, products: 4, ordersPerUser: 2, seed: 3 });
    admin = await clientAs(server, 'admin');
  });
  afterAll(() => server?.close());

  it('applies the configured maximums instead of the defaults', async () => {
    // Allowed by the defaults, refused here.
    const deep = await countStatements(server, () => gql(admin, DEPTH_EIGHT));
    expect(deep.result.status).toBe(400);
    expectRejected(deep.result.body, 'QUERY_TOO_DEEP', 'maxDepth', 8, 7);
    expect(deep.statements).toBe(0);

    const items = await gql(admin, PLACE_ORDER, { input: { userId: '1', items: orderItems(3) } });
    expectRejected(items.body, 'LIST_TOO_LARGE', 'maxListSize', 3, 2);

    // Refused by the defaults, allowed here.
    const fanOut = await countStatements(server, () => gql(admin, FAN_OUT));
    expect(fanOut.result.body.errors).toBeUndefined();
    expect(fanOut.result.body.data!.users.nodes).toHaveLength(4); // 3 seeded users and the admin
    expect(fanOut.statements).toBeGreaterThan(0);
    const aliases = await gql(admin, aliasBomb(500));
    expect(aliases.body.errors).toBeUndefined();
    expect(Object.keys(aliases.body.data!)).toHaveLength(500);
  });
});
