/**
 * `npm run bench`: builds the project, recreates and seeds the `ledger_bench` database, starts the GraphQL server
 * (`node dist/main.js`, production mode) and the hand-written reference (bench/reference.ts) as child processes,
 * checks that the reference answers case 1 and case 4 with the same bodies, then loads every case with autocannon in
 * rotated rounds, each measured run right after a short unmeasured one. Prints a table, writes
 * bench/results/latest.json, and always stops the children and drops the database, on success, failure or Ctrl-C.
 * Exits 1 when any case had errors (the case-1 target is reported, never enforced).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { loadConfig } from '../src/config/index.js';
import {
  buildProject,
  freePort,
  sleep,
  startGraphQLServer,
  startReferenceServer,
  waitUntil,
  type Child,
} from './children.js';
import { BENCH_SEED_OPTIONS, benchDatabaseUrl, connectAdmin, seedBenchData, type AdminConnection } from './database.js';
import { childBaseEnv, readBenchSettings, referenceEnv } from './env.js';
import { CASES, CONNECTIONS, requestBody, runLoad, type BenchCase, type RunResult } from './load.js';
import { TYPENAME_QUERY } from './queries.js';
import {
  addRunErrors,
  describeMachine,
  emptyErrors,
  evaluateTarget,
  formatReport,
  isClean,
  summariseCase,
  withRatios,
  type BenchReport,
  type CaseErrors,
  type RoundResult,
  type StatementFigures,
} from './report.js';
import { readServerLog } from './server-log.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const resultsFile = fileURLToPath(new URL('./results/latest.json', import.meta.url));
/** Unmeasured load on a case right before each of its measured runs (at most the warm-up setting). */
const REWARM_SECONDS = 2;
const referenceEntry = fileURLToPath(new URL('./reference.ts', import.meta.url));

const settings = readBenchSettings();
const controller = new AbortController();
const { signal } = controller;
const children: Child[] = [];
const workDir = mkdtempSync(join(tmpdir(), 'ledger-bench-'));
const serverLogFile = join(workDir, 'server.log');
let admin: AdminConnection | undefined;
let interruptedAt: number | undefined;

function abort(reason: Error): void {
  if (!signal.aborted) controller.abort(reason);
}

/**
 * First signal: abort and clean up. One Ctrl-C arrives twice (from the terminal and relayed by tsx), so only a
 * signal more than a second later counts as "again" and kills everything without cleanup.
 */
function onSignal(name: NodeJS.Signals): void {
  if (interruptedAt !== undefined) {
    if (Date.now() - interruptedAt < 1000) return;
    console.error(`${name} again: killing the children and exiting without cleanup`);
    for (const child of children) child.process.kill('SIGKILL');
    process.exit(130);
  }
  interruptedAt = Date.now();
  console.error(`\n${name}: stopping the bench and cleaning up (press Ctrl-C again to force)`);
  abort(new Error(`interrupted by ${name}`));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

function log(message: string): void {
  console.log(`[bench] ${message}`);
}

/** POST a GraphQL body; resolves with status and body text. */
async function post(
  url: string,
  body: string,
  requestId: string,
  token?: string,
): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-request-id': requestId,
      ...(token && { authorization: `Bearer ${token}` }),
    },
    body,
    signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
  });
  return { status: response.status, text: await response.text() };
}

/** The first place where two JSON values differ, for a readable failure. */
function firstDifference(a: unknown, b: unknown, path = '$'): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) {
    return `${path}: ${JSON.stringify(a)?.slice(0, 120)} vs ${JSON.stringify(b)?.slice(0, 120)}`;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    const found = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`);
    if (found) return found;
  }
  return `${path}: differs`;
}

/** Asks the case once and returns the body every response must then equal. */
async function expectedBody(benchCase: BenchCase, url: string, token: string): Promise<string> {
  const { status, text } = await post(url, requestBody(benchCase), `bench.${benchCase.key}.check`, token);
  let parsed: { data?: unknown; errors?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    throw new Error(`case ${benchCase.label}: the response is not JSON: ${text.slice(0, 300)}`);
  }
  if (status !== 200 || parsed.errors !== undefined || parsed.data == null) {
    throw new Error(`case ${benchCase.label}: HTTP ${status}, expected data without errors: ${text.slice(0, 500)}`);
  }
  if (benchCase.expectedNodes !== undefined) {
    const connection = Object.values(parsed.data as Record<string, { nodes?: unknown[] }>)[0];
    const count = connection?.nodes?.length;
    if (count !== benchCase.expectedNodes) {
      throw new Error(`case ${benchCase.label}: expected ${benchCase.expectedNodes} nodes, got ${count}`);
    }
  }
  return text;
}

async function referenceStats(url: string): Promise<{ requests: number; statements: number }> {
  const response = await fetch(`${url}/__stats`, { signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]) });
  return (await response.json()) as { requests: number; statements: number };
}

async function main(): Promise<number> {
  const date = new Date().toISOString();
  const machine = describeMachine();
  log(
    `${CASES.length} cases × ${settings.rounds} round(s) × ${settings.durationSeconds} s ` +
      `+ ${settings.warmupSeconds} s warm-up each, ${CONNECTIONS} connections`,
  );

  log('building (npm run build)');
  await buildProject(root, signal);

  const benchUrl = benchDatabaseUrl(settings.adminUrl);
  log(`recreating database ${new URL(benchUrl).pathname.slice(1)} on ${new URL(benchUrl).host}`);
  admin = connectAdmin(settings.adminUrl);
  await admin.recreate();

  const [serverPort, limitedPort, referencePort] = [await freePort(), await freePort(), await freePort()];
  const serverConfigEnv = {
    NODE_ENV: 'production',
    DATABASE_URL: benchUrl,
    HOST: '127.0.0.1',
    PORT: String(serverPort),
    LOG_LEVEL: 'info',
    MIGRATE_ON_START: 'false',
    // Load tests run without rate limits; the limited server below measures their cost.
    RATE_LIMIT_ENABLED: 'false',
  };
  // The same server with every @rateLimit on, counting in Redis: the directive's overhead, with callers spread over
  // BENCH_TOKEN_COUNT tokens so no call is refused (a refusal would change the body and count as an error).
  const limitedConfigEnv = {
    ...serverConfigEnv,
    PORT: String(limitedPort),
    RATE_LIMIT_ENABLED: 'true',
    REDIS_URL: settings.redisUrl,
    RATE_LIMIT_KEY_PREFIX: `bench:${process.pid}:${Date.now()}:`,
  };
  // The same parse the server will make of its environment: the bench migrates and seeds with it, and the reference
  // gets its pool settings from it.
  const config = loadConfig(serverConfigEnv);

  log(`migrating and seeding ${JSON.stringify(BENCH_SEED_OPTIONS)}`);
  const { tokens, ...seedSummary } = await seedBenchData(config);
  log(`seeded: ${JSON.stringify(seedSummary)}`);

  log(`starting the GraphQL server on :${serverPort} and the reference on :${referencePort}`);
  children.push(
    startGraphQLServer({
      root,
      env: { ...childBaseEnv(), ...serverConfigEnv },
      logFile: serverLogFile,
      onUnexpectedExit: abort,
    }),
    // Both servers append to one log; request ids (bench.<case>.<phase>) tell their lines apart.
    startGraphQLServer({
      root,
      env: { ...childBaseEnv(), ...limitedConfigEnv },
      logFile: serverLogFile,
      onUnexpectedExit: abort,
    }),
    startReferenceServer({
      root,
      entry: referenceEntry,
      env: {
        ...childBaseEnv(),
        ...referenceEnv({
          databaseUrl: benchUrl,
          port: referencePort,
          poolMax: config.database.poolMax,
          idleTimeoutSeconds: config.database.idleTimeoutSeconds,
          connectTimeoutSeconds: config.database.connectTimeoutSeconds,
          statementTimeoutMs: config.database.statementTimeoutMs,
        }),
      },
      onUnexpectedExit: abort,
    }),
  );
  const urls = {
    graphql: `http://127.0.0.1:${serverPort}/graphql`,
    limited: `http://127.0.0.1:${limitedPort}/graphql`,
    reference: `http://127.0.0.1:${referencePort}`,
  };
  const urlOf = (benchCase: BenchCase) =>
    benchCase.target === 'graphql'
      ? urls.graphql
      : benchCase.target === 'graphql-limited'
        ? urls.limited
        : `${urls.reference}/graphql`;
  const typename = JSON.stringify({ query: TYPENAME_QUERY });
  await Promise.all([
    waitUntil(
      'the GraphQL server',
      async () => {
        const { status, text } = await post(urls.graphql, typename, 'bench.ready');
        return status === 200 && text.trim() === '{"data":{"__typename":"Query"}}';
      },
      signal,
    ),
    waitUntil(
      'the rate-limited GraphQL server',
      async () => {
        const { status, text } = await post(urls.limited, typename, 'bench.ready');
        return status === 200 && text.trim() === '{"data":{"__typename":"Query"}}';
      },
      signal,
    ),
    waitUntil('the reference server', async () => (await referenceStats(urls.reference)).requests >= 0, signal),
  ]);
  log('both servers are ready');

  // What every response of each case must be, byte for byte (the data never changes during the run).
  const expected = new Map<string, string>();
  for (const benchCase of CASES) {
    expected.set(benchCase.key, await expectedBody(benchCase, urlOf(benchCase), tokens[0]!));
  }
  // Where the reference answers the same query as a case, it must answer it exactly as the GraphQL server does.
  for (const benchCase of CASES) {
    const reference = CASES.find((c) => c.key === benchCase.reference)!;
    if (benchCase.target === 'reference' || reference.query !== benchCase.query) continue;
    const fromGraphql = expected.get(benchCase.key)!;
    const fromReference = expected.get(reference.key)!;
    const difference = firstDifference(JSON.parse(fromReference), JSON.parse(fromGraphql));
    if (difference !== undefined) {
      throw new Error(`the reference's ${reference.key} response differs from ${benchCase.key}'s at ${difference}`);
    }
    if (fromReference !== fromGraphql) {
      throw new Error(`the reference's ${reference.key} response has the same JSON as ${benchCase.key}'s, other bytes`);
    }
    log(`${benchCase.key}'s body equals the reference's ${reference.key} (${Buffer.byteLength(fromGraphql)} bytes)`);
  }

  const runCase = (benchCase: BenchCase, phase: string, durationSeconds: number): Promise<RunResult> =>
    runLoad({
      url: urlOf(benchCase),
      body: requestBody(benchCase),
      tokens,
      expectBody: expected.get(benchCase.key)!,
      requestId: `bench.${benchCase.key}.${phase}`,
      durationSeconds,
      signal,
    });
  const describe = (run: RunResult) =>
    `${run.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${run.p50Ms.toFixed(2).padStart(6)} ms  ` +
    `p99 ${run.p99Ms.toFixed(2).padStart(6)} ms  errors ${run.non2xx + run.errors + run.mismatches}`;

  const warmups = new Map<string, RunResult>();
  const errors = new Map<string, CaseErrors>(CASES.map((c) => [c.key, emptyErrors()]));
  if (settings.warmupSeconds > 0) {
    for (const benchCase of CASES) {
      const run = await runCase(benchCase, 'warmup', settings.warmupSeconds);
      warmups.set(benchCase.key, run);
      addRunErrors(errors.get(benchCase.key)!, run);
      log(`warm-up  ${benchCase.label.padEnd(26)} ${describe(run)}`);
      await sleep(300, signal);
    }
  }

  const rounds = new Map<string, RoundResult[]>(CASES.map((c) => [c.key, []]));
  const rewarmSeconds = Math.min(REWARM_SECONDS, settings.warmupSeconds);
  const referenceFigures = new Map<string, StatementFigures>(
    CASES.filter((c) => c.target === 'reference').map((c) => [
      c.key,
      { requests: 0, statements: 0, min: Infinity, max: -Infinity },
    ]),
  );
  for (let round = 1; round <= settings.rounds; round++) {
    const order = CASES.map((_, i) => CASES[(i + round - 1) % CASES.length]!);
    for (const [index, benchCase] of order.entries()) {
      if (rewarmSeconds > 0) {
        // Between its runs a server sits idle while the other cases run (20-50 s): its pool closes idle connections
        // (DB_IDLE_TIMEOUT_SECONDS, 30 s by default) and V8 shrinks its heap. Without this, each measured run would
        // start cold by an amount that depends on the case order.
        addRunErrors(errors.get(benchCase.key)!, await runCase(benchCase, `r${round}warm`, rewarmSeconds));
      }
      const before = benchCase.target === 'reference' ? await referenceStats(urls.reference) : undefined;
      const run = await runCase(benchCase, `r${round}`, settings.durationSeconds);
      if (before) {
        const after = await referenceStats(urls.reference);
        const requests = after.requests - before.requests;
        const statements = after.statements - before.statements;
        const figures = referenceFigures.get(benchCase.key)!;
        figures.requests += requests;
        figures.statements += statements;
        if (requests > 0) {
          figures.min = Math.min(figures.min, statements / requests);
          figures.max = Math.max(figures.max, statements / requests);
        }
      }
      rounds.get(benchCase.key)!.push({ ...run, round, position: index + 1 });
      addRunErrors(errors.get(benchCase.key)!, run);
      log(`round ${round}/${settings.rounds} [${index + 1}/${order.length}] ${benchCase.label.padEnd(26)} ${describe(run)}`);
      await sleep(300, signal);
    }
  }

  // Statements per request and server-side errors, from the GraphQL server's log.
  const serverLog = await readServerLog(serverLogFile);
  const summaries = CASES.map((benchCase) => {
    const caseErrors = errors.get(benchCase.key)!;
    let statements: StatementFigures | null = null;
    if (benchCase.target !== 'reference') {
      statements = { requests: 0, statements: 0, min: Infinity, max: -Infinity };
      let serverMs = 0;
      let sqlMs = 0;
      for (const [requestId, figures] of serverLog.byRequestId) {
        if (!requestId.startsWith(`bench.${benchCase.key}.`)) continue;
        caseErrors.serverNon2xx += figures.non2xx;
        caseErrors.serverErrorLines += figures.errorLines;
        if (!/\.r\d+$/.test(requestId)) continue; // measured rounds only
        statements.requests += figures.requests;
        statements.statements += figures.statements;
        statements.min = Math.min(statements.min, figures.minStatements);
        statements.max = Math.max(statements.max, figures.maxStatements);
        serverMs += figures.durationMs;
        sqlMs += figures.sqlMs;
      }
      if (statements.requests > 0) {
        statements.meanServerMs = serverMs / statements.requests;
        statements.meanSqlMs = sqlMs / statements.requests;
      }
    } else {
      statements = referenceFigures.get(benchCase.key)!;
    }
    if (statements.requests === 0) statements = null;
    return summariseCase(benchCase, rounds.get(benchCase.key)!, warmups.get(benchCase.key) ?? null, statements, caseErrors);
  });
  const cases = withRatios(summaries);
  if (serverLog.errorLinesWithoutId > 0) {
    // Not attributable to a case: count it against case 1 so the run fails rather than hiding it.
    cases[0]!.errors.serverErrorLines += serverLog.errorLinesWithoutId;
  }
  for (const sample of serverLog.errorSamples) cases[0]!.errors.samples.push(`server log: ${sample}`);

  const report: BenchReport = {
    date,
    machine,
    settings: {
      durationSeconds: settings.durationSeconds,
      rounds: settings.rounds,
      warmupSeconds: settings.warmupSeconds,
      rewarmSeconds,
      connections: CONNECTIONS,
    },
    seed: { options: BENCH_SEED_OPTIONS, summary: seedSummary },
    target: evaluateTarget(cases),
    cases,
    ok: cases.every((c) => isClean(c.errors)),
  };
  mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  writeFileSync(resultsFile, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${formatReport(report)}\n`);
  log(`results written to ${resultsFile}`);
  return report.ok ? 0 : 1;
}

function serverLogTail(lines = 15): string {
  try {
    return readFileSync(serverLogFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function cleanup(): Promise<void> {
  const results = await Promise.allSettled([
    ...children.map((child) => child.stop()),
  ]);
  for (const result of results) if (result.status === 'rejected') console.error(`cleanup: ${String(result.reason)}`);
  if (admin) {
    try {
      await admin.drop();
      log('database dropped');
    } catch (error) {
      console.error(`cleanup: could not drop the bench database: ${String(error)}`);
    }
    await admin.close().catch(() => {});
  }
  rmSync(workDir, { recursive: true, force: true });
}

let exitCode: number;
try {
  exitCode = await main();
} catch (error) {
  exitCode = interruptedAt !== undefined ? 130 : 1;
  if (interruptedAt === undefined) {
    const reason = signal.aborted && signal.reason !== error ? ` (${String(signal.reason)})` : '';
    console.error(`\n[bench] FAILED: ${error instanceof Error ? error.message : String(error)}${reason}`);
    const tail = serverLogTail();
    if (tail) console.error(`[bench] last lines of the GraphQL server's log:\n${tail}`);
  }
} finally {
  await cleanup();
}
process.exit(exitCode!);
