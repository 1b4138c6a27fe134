/**
 * Metrics: GET /metrics serves Prometheus text with the default process metrics and the app's own: operations by name
 * and outcome with latency, SQL statements and time per operation, DataLoader batch sizes, HTTP requests, pool usage
 * and dependency status. Each app has its own registry, labels stay bounded, and METRICS_ENABLED=false turns it off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoData } from '../src/db/seed.js';
import { createMetrics, MAX_OPERATION_NAMES } from '../src/observability/metrics.js';
import { createPrincipal, type TestPrincipal } from './support/principals.js';
import { gql, startServer, type TestServer } from './support/server.js';

let server: TestServer;
let admin: TestPrincipal;

beforeAll(async () => {
  server = await startServer({ env: { RATE_LIMIT_ENABLED: 'false' } });
  await seedDemoData(server.app.database.db, { users: 4, products: 6, ordersPerUser: 3, seed: 7 });
  admin = await createPrincipal(server, 'admin');
});
afterAll(() => server?.close());

async function scrape(url: string): Promise<{ status: number; contentType: string | null; text: string }> {
  const res = await fetch(`${url}/metrics`);
  return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
}

/** The value of one sample, e.g. `graphql_operations_total{operation="X",outcome="success"}`; undefined if absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const match = /^[^{\s]+(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const found = Object.fromEntries([...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[2]);
  }
  return undefined;
}

describe('GET /metrics', () => {
  it('serves the Prometheus text format with the default process metrics', async () => {
    const { status, contentType, text } = await scrape(server.url);
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of ['process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds']) {
      expect(text).toContain(`# TYPE ${name}`);
    }
    const head = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('counts operations by name and outcome, with latency and SQL figures per operation', async () => {
    const before = await scrape(server.url);
    const base = sample(before.text, 'graphql_operations_total', { operation: 'ListProducts', outcome: 'success' }) ?? 0;
    for (let i = 0; i < 3; i++) {
      expect((await gql(server, 'query ListProducts { products(first: 3) { nodes { id } } }')).status).toBe(200);
    }
    await gql(server, 'query TooMany { products(first: 1000) { nodes { id } } }');
    await gql(server, '{ nope }');

    const { text } = await scrape(server.url);
    expect(sample(text, 'graphql_operations_total', { operation: 'ListProducts', outcome: 'success' })).toBe(base + 3);
    expect(sample(text, 'graphql_operations_total', { operation: 'TooMany', outcome: 'BAD_USER_INPUT' })).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'graphql_operations_total', { operation: '(unresolved)', outcome: 'GRAPHQL_VALIDATION_FAILED' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'graphql_operation_duration_seconds_count', { operation: 'ListProducts', outcome: 'success' }),
    ).toBe(base + 3);
    // One statement per products page.
    expect(sample(text, 'graphql_operation_sql_statements_count', { operation: 'ListProducts' })).toBe(base + 3);
    expect(sample(text, 'graphql_operation_sql_statements_sum', { operation: 'ListProducts' })).toBe(base + 3);
    expect(sample(text, 'graphql_operation_sql_duration_seconds_sum', { operation: 'ListProducts' })).toBeGreaterThan(0);
  });

  it('reports DataLoader batch sizes per loader', async () => {
    const res = await gql(
      server,
      'query Orders { orders(first: 10) { nodes { id user { id } items { product { id } } } } }',
      undefined,
      admin.headers,
    );
    expect(res.body.errors).toBeUndefined();
    const orders = res.body.data!.orders.nodes as Array<{ user: { id: string } }>;
    expect(orders.length).toBe(10);
    const { text } = await scrape(server.url);
    // The ten orders' users load in one batch, their items in another.
    expect(sample(text, 'dataloader_batch_size_count', { loader: 'itemsByOrderId' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'dataloader_batch_size_sum', { loader: 'itemsByOrderId' })).toBeGreaterThanOrEqual(10);
    expect(sample(text, 'dataloader_batch_size_count', { loader: 'userById' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'dataloader_batch_size_count', { loader: 'productById' })).toBeGreaterThanOrEqual(1);
  });

  it('reports HTTP requests by route, pool usage and dependency status', async () => {
    await fetch(`${server.url}/healthz`);
    await fetch(`${server.url}/nowhere`);
    const { text } = await scrape(server.url);
    expect(sample(text, 'http_requests_total', { method: 'GET', route: '/healthz', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'http_requests_total', { method: 'GET', route: '(unmatched)', status: '404' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'http_requests_total', { method: 'POST', route: '/graphql', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'db_pool_connections', { state: 'max' })).toBe(server.app.database.poolMax);
    expect(sample(text, 'db_pool_connections', { state: 'open' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'db_pool_waiting')).toBe(0);
    expect(sample(text, 'health_check_status', { check: 'postgres:responseTime', status: 'pass' })).toBe(1);
    expect(sample(text, 'health_check_status', { check: 'postgres:responseTime', status: 'fail' })).toBe(0);
    expect(sample(text, 'health_check_status', { check: 'migrations:pending', status: 'pass' })).toBe(1);
    expect(sample(text, 'health_status', { status: 'pass' })).toBe(1);
    // Counters other capabilities increment exist from the start, documented by their HELP text.
    expect(text).toContain('# HELP rate_limited_calls_total');
    expect(text).toContain('# HELP idempotency_outcomes_total');
  });

  it('counts the calls the rate limiter refuses', async () => {
    server.app.rateLimiter.reportRefusal('Mutation.payOrder', 'limited');
    server.app.rateLimiter.reportRefusal('Mutation.payOrder', 'limited');
    server.app.rateLimiter.reportRefusal('Query.users', 'unavailable');
    const { text } = await scrape(server.url);
    expect(sample(text, 'rate_limited_calls_total', { field: 'Mutation.payOrder', reason: 'limited' })).toBe(2);
    expect(sample(text, 'rate_limited_calls_total', { field: 'Query.users', reason: 'unavailable' })).toBe(1);
  });

  it('keeps each app in its own registry, and is off with METRICS_ENABLED=false', async () => {
    const other = await startServer({ env: { METRICS_ENABLED: 'false' } });
    try {
      expect((await fetch(`${other.url}/metrics`)).status).toBe(404);
      await gql(other, 'query OnlyOnOther { __typename }');
      other.app.metrics.rateLimitedCalls.inc({ field: 'Query.products', reason: 'limited' });
      const { text } = await scrape(server.url);
      expect(sample(text, 'graphql_operations_total', { operation: 'OnlyOnOther' })).toBeUndefined();
      expect(sample(text, 'rate_limited_calls_total', { field: 'Query.products' })).toBeUndefined();
      expect(await other.app.metrics.registry.getSingleMetricAsString('rate_limited_calls_total')).toContain(
        'rate_limited_calls_total{field="Query.products",reason="limited"} 1',
      );
    } finally {
      await other.close();
    }
  });
});

describe('label cardinality', () => {
  it('bounds client-chosen operation names', () => {
    const metrics = createMetrics({ defaultMetrics: false });
    expect(metrics.operationLabel(undefined)).toBe('(anonymous)');
    expect(metrics.operationLabel('not a name!')).toBe('(invalid)');
    for (let i = 0; i < MAX_OPERATION_NAMES; i++) expect(metrics.operationLabel(`Op${i}`)).toBe(`Op${i}`);
    expect(metrics.operationLabel('OneTooMany')).toBe('(other)');
    expect(metrics.operationLabel('Op0')).toBe('Op0');
    expect(metrics.outcomeLabel('BAD_USER_INPUT')).toBe('BAD_USER_INPUT');
    expect(metrics.outcomeLabel('not a code')).toBe('ERROR');
    expect(metrics.outcomeLabel(undefined)).toBe('ERROR');
  });
});
