/**
 * Postgres outages, through real network faults between the server and a real Postgres (needs DATABASE_URL):
 * - cut (connections severed, new ones accepted and closed at once, as a dead server behind a proxy): every operation
 *   fails fast with SERVICE_UNAVAILABLE, readiness fails while liveness stays up, and the server serves again without a
 *   restart as soon as the connection is restored;
 * - partition (the network goes silent: no FIN, no RST): operations still fail within the statement timeout plus the
 *   connect timeout instead of hanging, and the server recovers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrincipal, type TestPrincipal } from './support/principals.js';
import {
  createTestDatabase,
  errorCodes,
  gql,
  startServer,
  unique,
  usingPostgres,
  type TestDatabase,
  type TestServer,
} from './support/server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/** Fail-fast bound asserted for every request during an outage (DB_CONNECT_TIMEOUT_SECONDS=1). */
const FAIL_FAST_MS = 3_000;

const QUERY = '{ products(first: 5) { nodes { id sku } } }';

const createUser = () => `mutation { createUser(input: { email: "outage-${unique()}@example.com", name: "O" }) { user { id } } }`;

function throughProxy(database: TestDatabase, proxy: { host: string; port: number }): TestDatabase {
  const url = new URL(database.url!);
  url.hostname = proxy.host;
  url.port = String(proxy.port);
  return { url: url.toString(), drop: database.drop };
}

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const startedAt = performance.now();
  const result = await work();
  return { result, ms: performance.now() - startedAt };
}

async function status(server: TestServer, path: string): Promise<number> {
  const res = await fetch(`${server.url}${path}`);
  await res.arrayBuffer();
  return res.status;
}

/** Polls `probe` until it returns true, for at most `withinMs`; returns how long it took. */
async function until(probe: () => Promise<boolean>, withinMs: number): Promise<number> {
  const startedAt = performance.now();
  while (!(await probe())) {
    if (performance.now() - startedAt > withinMs) throw new Error(`condition not met within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return performance.now() - startedAt;
}

const outageEnv = {
  DB_CONNECT_TIMEOUT_SECONDS: '1',
  DB_STATEMENT_TIMEOUT_MS: '1000',
  HEALTH_CACHE_MS: '100',
  HEALTH_CHECK_TIMEOUT_MS: '1000',
  RATE_LIMIT_ENABLED: 'false',
};

describe.runIf(usingPostgres)('Postgres cut off through a TCP proxy (needs DATABASE_URL)', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let server: TestServer;
  let admin: TestPrincipal;

  beforeAll(async () => {
    database = await createTestDatabase();
    const target = new URL(database.url!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    server = await startServer({ database: throughProxy(database, proxy), env: outageEnv });
    admin = await createPrincipal(server, 'admin');
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await database?.drop();
  });

  it('fails fast with SERVICE_UNAVAILABLE, fails readiness only, and serves again once restored', async () => {
    expect(errorCodes(await gql(server, QUERY))).toEqual([]);
    expect(await status(server, '/readyz')).toBe(200);

    proxy.cut();

    // Several waves of concurrent requests: anonymous and authenticated (the token lookup), queries and a mutation.
    const timings: number[] = [];
    for (let wave = 0; wave < 3; wave++) {
      const answers = await Promise.all([
        ...Array.from({ length: 12 }, () => timed(() => gql(server, QUERY))),
        timed(() => gql(server, QUERY, undefined, admin.headers)),
        timed(() => gql(server, createUser(), undefined, admin.headers)),
      ]);
      for (const { result, ms } of answers) {
        timings.push(ms);
        expect(errorCodes(result)).toContain('SERVICE_UNAVAILABLE');
        expect(JSON.stringify(result.body)).not.toMatch(/ECONN|127\.0\.0\.1|postgres:/);
      }
      // The token lookup fails before execution: the whole request is a 503 with Retry-After.
      for (const { result: authenticated } of answers.slice(12)) {
        expect(authenticated.status).toBe(503);
        expect(authenticated.headers.get('retry-after')).toBe('1');
      }
    }
    const slowest = Math.max(...timings);
    console.info(`outage: ${timings.length} requests answered SERVICE_UNAVAILABLE, slowest ${Math.round(slowest)} ms`);
    expect(slowest).toBeLessThan(FAIL_FAST_MS);

    const readinessMs = await until(async () => (await status(server, '/readyz')) === 503, FAIL_FAST_MS);
    expect(await status(server, '/healthz')).toBe(200);
    const report = await fetch(`${server.url}/health`);
    expect(report.status).toBe(503);
    const body = (await report.json()) as { checks: Record<string, Array<{ status: string; output?: string }>> };
    expect(body.checks['postgres:responseTime']![0]).toMatchObject({ status: 'fail', output: expect.stringMatching(/^unavailable|timed out/) });
    console.info(`outage: /readyz 503 after ${Math.round(readinessMs)} ms`);

    proxy.restore();
    const recoveryMs = await until(async () => errorCodes(await gql(server, QUERY)).length === 0, 5_000);
    await until(async () => (await status(server, '/readyz')) === 200, 5_000);
    expect(errorCodes(await gql(server, QUERY, undefined, admin.headers))).toEqual([]);
    expect(errorCodes(await gql(server, createUser(), undefined, admin.headers))).toEqual([]);
    console.info(`outage: serving again ${Math.round(recoveryMs)} ms after restore`);
  });
});

describe.runIf(usingPostgres)('Postgres behind a network partition (needs DATABASE_URL)', () => {
  it('answers SERVICE_UNAVAILABLE within the statement plus connect timeout, then recovers', async () => {
    const database = await createTestDatabase();
    const target = new URL(database.url!);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const server = await startServer({ database: throughProxy(database, proxy), env: outageEnv });
    try {
      // Warm several pool connections so requests hit both silent established connections and silent new ones.
      await Promise.all(Array.from({ length: 5 }, () => gql(server, QUERY)));
      proxy.stall();
      const answers = await Promise.all(Array.from({ length: 8 }, () => timed(() => gql(server, QUERY))));
      for (const { result } of answers) expect(errorCodes(result)).toContain('SERVICE_UNAVAILABLE');
      const slowest = Math.max(...answers.map((answer) => answer.ms));
      console.info(`partition: slowest SERVICE_UNAVAILABLE after ${Math.round(slowest)} ms`);
      // statement timeout 1 s + connect timeout 1 s, plus scheduling slack
      expect(slowest).toBeLessThan(FAIL_FAST_MS + 500);
      expect(await status(server, '/readyz')).toBe(503);
      expect(await status(server, '/healthz')).toBe(200);

      proxy.resume();
      await until(async () => errorCodes(await gql(server, QUERY)).length === 0, 5_000);
      await until(async () => (await status(server, '/readyz')) === 200, 5_000);
    } finally {
      await server.close();
      await proxy.close();
      await database.drop();
    }
  });
});
