/**
 * Health: the probes (/healthz, /readyz, /health) and `Query.health` report the truth about the server and its
 * dependencies, answer HEAD, fail readiness on pending migrations and while shutting down but not when only Redis is
 * down, and never pile load on a dependency (per-check timeout, one run in flight per check, a short cache).
 */
import { createServer as createTcpServer } from 'node:net';
import { parse, Kind, type ObjectTypeExtensionNode } from 'graphql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrations } from '../src/db/migrate.js';
import { createHealthService, type HealthCheck } from '../src/health/index.js';
import { loadTypeDefs } from '../src/graphql/schema.js';
import { captureLogs, gql, startServer, type TestServer } from './support/server.js';

const silent = pino({ level: 'silent' });

let server: TestServer;
beforeAll(async () => {
  // Without Redis whatever the environment says (CI sets REDIS_URL): the in-process limiter's report is checked here.
  server = await startServer({ env: { HEALTH_CACHE_MS: '0', REDIS_URL: '' } });
});
afterAll(() => server?.close());

async function probe(base: string, path: string, method = 'GET') {
  const res = await fetch(`${base}${path}`, { method });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, any> };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const listener = createTcpServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as { port: number };
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  return port;
}

const HEALTH_QUERY = `{ health { status version uptimeSeconds checks {
  name componentType status latencyMs observedValue observedUnit message time details { name value } } } }`;

describe('probes on a healthy server', () => {
  it('answers liveness and readiness with 200 and application/health+json, never cached', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await probe(server.url, path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/health\+json/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.json()).toEqual({ status: 'pass' });
    }
  });

  it('serves the full report per draft-inadarei-api-health-check', async () => {
    const res = await probe(server.url, '/health');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/health\+json/);
    const body = res.json();
    expect(body.status).toBe('pass');
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Object.keys(body.checks)).toEqual(
      expect.arrayContaining([
        'uptime',
        'postgres:responseTime',
        'postgres:connections',
        'migrations:pending',
        'eventLoop:delay',
        'redis:responseTime',
        'server:draining',
      ]),
    );
    for (const [key, entries] of Object.entries(body.checks as Record<string, any[]>)) {
      expect(key).toMatch(/^[A-Za-z]+(:[A-Za-z]+)?$/);
      expect(Array.isArray(entries)).toBe(true);
      for (const entry of entries) {
        expect(['pass', 'warn', 'fail']).toContain(entry.status);
        expect(new Date(entry.time).toString()).not.toBe('Invalid Date');
        expect(['datastore', 'component', 'system']).toContain(entry.componentType);
      }
    }
    const [roundTrip] = body.checks['postgres:responseTime'];
    expect(roundTrip).toMatchObject({ status: 'pass', observedUnit: 'ms' });
    expect(roundTrip.observedValue).toBeGreaterThanOrEqual(0);
    const [pool] = body.checks['postgres:connections'];
    expect(pool.details).toMatchObject({ max: server.app.database.poolMax, waiting: 0 });
    expect(pool.details.open).toBeGreaterThanOrEqual(1);
    expect(pool.details.busy + pool.details.idle).toBe(pool.details.open);
    expect(body.checks['migrations:pending'][0]).toMatchObject({ status: 'pass', observedValue: 0 });
    // Without REDIS_URL the limiter counts in-process: reported, not a problem.
    expect(body.checks['redis:responseTime'][0]).toMatchObject({
      status: 'pass',
      output: 'not configured: in-process limiter',
    });
    expect(body.checks['uptime'][0]).toMatchObject({ observedUnit: 's', status: 'pass' });
  });

  it('answers HEAD with the same status and headers and no body, and refuses other methods', async () => {
    for (const path of ['/healthz', '/readyz', '/health']) {
      const head = await probe(server.url, path, 'HEAD');
      expect(head.status, path).toBe(200);
      expect(head.text).toBe('');
      expect(head.headers.get('content-type')).toMatch(/^application\/health\+json/);
      expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
      const post = await probe(server.url, path, 'POST');
      expect(post.status, path).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
    }
  });

  it('reports the same health through Query.health', async () => {
    const res = await gql(server, HEALTH_QUERY);
    expect(res.body.errors).toBeUndefined();
    const health = res.body.data!.health;
    expect(health.status).toBe('PASS');
    expect(health.uptimeSeconds).toBeGreaterThan(0);
    const names = health.checks.map((check: { name: string }) => check.name);
    expect(names).toEqual(
      expect.arrayContaining(['postgres:responseTime', 'postgres:connections', 'migrations:pending', 'eventLoop:delay']),
    );
    const pool = health.checks.find((check: { name: string }) => check.name === 'postgres:connections');
    expect(pool.details.map((detail: { name: string }) => detail.name)).toEqual(['max', 'open', 'busy', 'idle', 'waiting']);
    expect(pool.message).toMatch(/open/);
  });

  it('does not rate limit Query.health', async () => {
    const extension = loadTypeDefs()
      .flatMap((sdl) => parse(sdl).definitions)
      .find(
        (definition): definition is ObjectTypeExtensionNode =>
          definition.kind === Kind.OBJECT_TYPE_EXTENSION &&
          definition.name.value === 'Query' &&
          (definition.fields ?? []).some((field) => field.name.value === 'health'),
      );
    const field = extension!.fields!.find((candidate) => candidate.name.value === 'health')!;
    expect(field.directives ?? []).toEqual([]);
    // And through the API: many more calls than the strictest limit allows in a burst all succeed.
    const answers = await Promise.all(Array.from({ length: 80 }, () => gql(server, '{ health { status } }')));
    expect(answers.every((answer) => answer.body.data?.health.status === 'PASS')).toBe(true);
  });

  it('logs probe requests at debug level only, GraphQL requests at info', async () => {
    const { logger, lines } = captureLogs();
    const server = await startServer({ logger });
    try {
      for (const path of ['/healthz', '/readyz', '/health']) await probe(server.url, path);
      await gql(server, '{ __typename }');
      const completed = lines.filter((line) => line.msg === 'request completed');
      expect(completed.map((line) => line.path)).toEqual(['/graphql']);
    } finally {
      await server.close();
    }
  });
});

describe('readiness', () => {
  it('fails while migrations are pending (liveness stays up) and recovers once they are applied', async () => {
    // Production mode: development start-up also looks up the demo tokens, which needs the tables.
    const pending = await startServer({
      env: { NODE_ENV: 'production', MIGRATE_ON_START: 'false', HEALTH_CACHE_MS: '0' },
    });
    try {
      const ready = await probe(pending.url, '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json()).toMatchObject({ status: 'fail', output: expect.stringMatching(/migrations:pending: \d+ pending/) });
      expect((await probe(pending.url, '/healthz')).status).toBe(200);
      const report = await probe(pending.url, '/health');
      expect(report.status).toBe(503);
      expect(report.json().status).toBe('fail');
      expect(report.json().checks['migrations:pending'][0].observedValue).toBeGreaterThan(0);
      expect((await probe(pending.url, '/health', 'HEAD')).status).toBe(503);
      const graphql = await gql(pending, '{ health { status checks { name status } } }');
      expect(graphql.body.data!.health.status).toBe('FAIL');

      await runMigrations(pending.config.database, pending.app.database);
      expect((await probe(pending.url, '/readyz')).status).toBe(200);
    } finally {
      await pending.close();
    }
  });

  it('fails at once when shutdown begins, while liveness and GraphQL keep answering', async () => {
    const draining = await startServer();
    try {
      expect((await probe(draining.url, '/readyz')).status).toBe(200);
      draining.app.health.startDraining();
      const ready = await probe(draining.url, '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json()).toEqual({ status: 'fail', output: 'shutting down' });
      // Keep-alive clients are asked to reconnect (elsewhere) from now on.
      expect(ready.headers.get('connection')).toBe('close');
      expect((await probe(draining.url, '/healthz')).status).toBe(200);
      const report = await probe(draining.url, '/health');
      expect(report.status).toBe(503);
      expect(report.json().checks['server:draining'][0]).toMatchObject({ status: 'fail', output: expect.any(String) });
      const graphql = await gql(draining, '{ __typename }');
      expect(graphql.status).toBe(200);
    } finally {
      await draining.close();
    }
  });

  it('stays ready when only Redis is down: the Redis check warns and rate limiting degrades', async () => {
    const port = await closedPort();
    const noRedis = await startServer({
      env: { REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_REDIS_CONNECT_TIMEOUT_MS: '100', HEALTH_CACHE_MS: '0' },
    });
    try {
      expect((await probe(noRedis.url, '/readyz')).status).toBe(200);
      const report = await probe(noRedis.url, '/health');
      expect(report.status).toBe(200);
      expect(report.json().status).toBe('warn');
      const redis = report.json().checks['redis:responseTime'][0];
      expect(redis).toMatchObject({ status: 'warn', output: expect.stringMatching(/^degraded/) });
      const graphql = await gql(noRedis, '{ health { status } }');
      expect(graphql.body.data!.health.status).toBe('WARN');
    } finally {
      await noRedis.close();
    }
  });
});

describe.runIf(process.env.REDIS_URL)('with Redis (needs REDIS_URL)', () => {
  it('measures a PING through the rate limiter and stays pass', async () => {
    const withRedis = await startServer({ env: { REDIS_URL: process.env.REDIS_URL!, HEALTH_CACHE_MS: '0' } });
    try {
      const report = await probe(withRedis.url, '/health');
      expect(report.status).toBe(200);
      const [redis] = report.json().checks['redis:responseTime'];
      expect(redis).toMatchObject({ status: 'pass', observedUnit: 'ms', componentType: 'datastore' });
      expect(redis.observedValue).toBeGreaterThanOrEqual(0);
      expect((await probe(withRedis.url, '/readyz')).status).toBe(200);
    } finally {
      await withRedis.close();
    }
  });
});

describe('the health service under a struggling dependency', () => {
  /** A check that counts its runs and hangs (as a dependency that accepts and never answers) until it recovers. */
  function hangingCheck(name: string, critical: boolean) {
    let runs = 0;
    let hanging = true;
    const waiting: Array<() => void> = [];
    const check: HealthCheck = {
      name,
      componentType: 'datastore',
      critical,
      run: () => {
        runs++;
        if (!hanging) return Promise.resolve({ status: 'pass' });
        return new Promise((resolve) => waiting.push(() => resolve({ status: 'pass' })));
      },
    };
    return {
      check,
      get runs() {
        return runs;
      },
      recover() {
        hanging = false;
        for (const resolve of waiting.splice(0)) resolve();
      },
    };
  }

  it('times a stuck check out (fail when critical, warn otherwise) and never runs it twice at once', async () => {
    const database = hangingCheck('db:responseTime', true);
    const cache = hangingCheck('cache:responseTime', false);
    const health = createHealthService({
      checks: [database.check, cache.check],
      version: 'test',
      timeoutMs: 100,
      cacheMs: 0,
      logger: silent,
    });
    const startedAt = performance.now();
    const first = await health.report();
    const elapsed = performance.now() - startedAt;
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(elapsed).toBeLessThan(1_000);
    expect(first.status).toBe('fail');
    const byName = Object.fromEntries(first.checks.map((check) => [check.name, check]));
    expect(byName['db:responseTime']).toMatchObject({ status: 'fail', message: 'timed out after 100 ms' });
    expect(byName['cache:responseTime']).toMatchObject({ status: 'warn', message: 'timed out after 100 ms' });
    expect(await health.readiness()).toEqual({ ready: false, reason: 'db:responseTime: timed out after 100 ms' });

    // Probes keep coming while the dependency hangs: each check still has exactly one run in flight.
    await Promise.all(Array.from({ length: 20 }, () => health.report()));
    expect([database.runs, cache.runs]).toEqual([1, 1]);

    // Once the dependency answers, the next report runs the checks afresh.
    database.recover();
    cache.recover();
    await new Promise((resolve) => setImmediate(resolve));
    expect((await health.report()).status).toBe('pass');
    expect([database.runs, cache.runs]).toEqual([2, 2]);
  });

  it('shares one evaluation among concurrent callers and reuses it for cacheMs', async () => {
    let runs = 0;
    const health = createHealthService({
      checks: [
        {
          name: 'db:responseTime',
          componentType: 'datastore',
          critical: true,
          run: async () => {
            runs++;
            await new Promise((resolve) => setTimeout(resolve, 20));
            return { status: 'pass' };
          },
        },
      ],
      version: 'test',
      timeoutMs: 1_000,
      cacheMs: 300,
      logger: silent,
    });
    await Promise.all(Array.from({ length: 50 }, () => health.report()));
    expect(runs).toBe(1);
    await health.readiness();
    await health.report();
    expect(runs).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    await health.report();
    expect(runs).toBe(2);
  });
});
