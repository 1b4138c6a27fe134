/**
 * Graceful shutdown of the real process (`node --import tsx src/main.ts`) under load: on SIGTERM readiness fails at
 * once while requests are still served for SHUTDOWN_DELAY_MS; then the server stops accepting, a request in flight
 * across that moment completes, and the process exits 0. No request the server accepted fails. A second signal exits at
 * once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const QUERY = '{ products(first: 5) { nodes { id sku } } }';

interface Child {
  process: ChildProcess;
  url: string;
  port: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const children: ChildProcess[] = [];
const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const database of databases) await database.drop();
});

/** Starts the server as its own process and waits for its "ready" log line. */
async function startProcess(env: Record<string, string>): Promise<Child> {
  const database = await createTestDatabase();
  databases.push(database);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      // As deployed. Also a regression guard: outside NODE_ENV=test, Apollo used to install its own SIGTERM handler,
      // which stopped Apollo mid-drain and re-raised the signal, so the process took it for a second one.
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      PGLITE_DATA_DIR: 'memory://',
      SEED_DEMO_WHEN_EMPTY: 'false',
      RATE_LIMIT_ENABLED: 'false',
      ...(database.url && { DATABASE_URL: database.url }),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const look = () => {
      const match = /GraphQL API ready at (http:\/\/[^"\s]+)\/graphql/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', look);
    void exited.then(() => reject(new Error(`server exited during start:\n${output}`)));
  });
  return { process: child, url, port: Number(new URL(url).port), output: () => output, exited };
}

async function post(url: string, query: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, body: await res.json() };
}

/** True once nothing accepts TCP connections on the port any more. */
function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** A GraphQL POST whose body arrives in two halves: the second one only when `finish()` is called. */
function slowRequest(port: number) {
  const body = Buffer.from(JSON.stringify({ query: QUERY }));
  let finish!: () => void;
  const response = new Promise<{ status: number; headers: Record<string, unknown>; body: any }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/graphql',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.write(body.subarray(0, 10));
    finish = () => req.end(body.subarray(10));
  });
  return { response, finish: () => finish() };
}

describe('graceful shutdown of the server process', () => {
  it('fails readiness at once, serves through the delay, finishes in-flight requests and exits 0', async () => {
    const delayMs = 1_500;
    const child = await startProcess({ SHUTDOWN_DELAY_MS: String(delayMs), SHUTDOWN_TIMEOUT_MS: '5000' });
    expect((await fetch(`${child.url}/readyz`)).status).toBe(200);

    // Load: concurrent clients sending queries back to back, until told to stop.
    let loading = true;
    const results: Array<{ status: number; ok: boolean }> = [];
    const clients = Array.from({ length: 8 }, async () => {
      while (loading) {
        const { status, body } = await post(child.url, QUERY);
        results.push({ status, ok: status === 200 && body.errors === undefined && Array.isArray(body.data?.products?.nodes) });
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const slow = slowRequest(child.port);
    await new Promise((resolve) => setTimeout(resolve, 50));

    const signalledAt = performance.now();
    child.process.kill('SIGTERM');
    // Readiness turns as soon as the process handles the signal, long before the delay ends.
    const readiness = await until(async () => (await fetch(`${child.url}/readyz`)).status === 503, 1_000);
    const notReadyMs = performance.now() - signalledAt;
    expect((await fetch(`${child.url}/healthz`)).status).toBe(200);

    // Clients keep sending during the delay, as a load balancer would until it lets go; then they stop.
    await new Promise((resolve) => setTimeout(resolve, delayMs / 2));
    loading = false;
    await Promise.all(clients);
    const servedDuringDelay = results.length;

    // After the delay the listener closes; the request in flight across that moment still completes.
    await until(() => refusesConnections(child.port), delayMs + 3_000);
    const stoppedAcceptingMs = performance.now() - signalledAt;
    slow.finish();
    const inFlight = await slow.response;
    expect(inFlight.status).toBe(200);
    expect(inFlight.body.errors).toBeUndefined();
    expect(inFlight.body.data.products.nodes).toBeInstanceOf(Array);
    expect(inFlight.headers.connection).toBe('close');

    const exit = await child.exited;
    const exitMs = exit.at - signalledAt;
    console.info(
      `shutdown: readiness 503 after ${Math.round(notReadyMs)} ms (${readiness} probes answered 200 first), ` +
        `${servedDuringDelay} requests served under load with none failed, stopped accepting after ` +
        `${Math.round(stoppedAcceptingMs)} ms (delay ${delayMs} ms), exited ${exit.code} after ${Math.round(exitMs)} ms`,
    );
    expect(results.filter((result) => !result.ok)).toEqual([]);
    expect(servedDuringDelay).toBeGreaterThan(20);
    // "At once": as soon as the signal is handled (a probe racing the signal may still pass), not after the delay.
    expect(notReadyMs).toBeLessThan(delayMs / 3);
    expect(stoppedAcceptingMs).toBeGreaterThanOrEqual(delayMs - 50);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(delayMs + 5_000);
    expect(child.output()).toContain('"shutdown complete"');
  });

  it('exits at once on a second signal', async () => {
    const child = await startProcess({ SHUTDOWN_DELAY_MS: '30000' });
    child.process.kill('SIGTERM');
    await until(async () => (await fetch(`${child.url}/readyz`)).status === 503, 2_000);
    const signalledAt = performance.now();
    child.process.kill('SIGTERM');
    const exit = await child.exited;
    console.info(`shutdown: second signal exited ${exit.code} after ${Math.round(exit.at - signalledAt)} ms`);
    expect(exit.at - signalledAt).toBeLessThan(1_000);
    expect(exit.code).toBe(128 + 15);
    expect(child.output()).toContain('second signal: exiting now');
  });
});

/** Polls `probe` until it returns true, for at most `withinMs`; returns how many polls failed first. */
async function until(probe: () => Promise<boolean>, withinMs: number): Promise<number> {
  const startedAt = performance.now();
  let misses = 0;
  while (!(await probe())) {
    misses++;
    if (performance.now() - startedAt > withinMs) throw new Error(`condition not met within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return misses;
}
