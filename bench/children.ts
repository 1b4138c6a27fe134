/**
 * Child processes of the bench: the project build, the GraphQL server (`node dist/main.js`, its stdout written
 * straight to a log file so the load generator never spends a cycle on it) and the reference server. Each running
 * child is watched: an exit nobody asked for aborts the bench. `stop` sends SIGTERM, then SIGKILL after a grace period.
 * The servers run in process groups of their own, so a terminal's Ctrl-C does not reach them before the bench is
 * done with them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

function watch(name: string, child: ChildProcess, onUnexpectedExit: (error: Error) => void): Child {
  let stopping = false;
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      if (!stopping) onUnexpectedExit(new Error(`${name} exited unexpectedly (code ${code}, signal ${signal})`));
      resolve();
    });
    child.once('error', (error) => {
      running = false;
      if (!stopping) onUnexpectedExit(new Error(`${name} could not be started: ${error.message}`));
      resolve();
    });
  });
  return {
    name,
    process: child,
    exited,
    async stop(graceMs = 15_000) {
      stopping = true;
      if (!running || child.pid === undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        console.error(`${name} did not stop within ${graceMs} ms: killing it`);
        child.kill('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs `npm run build` in the project root; rejects when it fails or `signal` aborts. */
export function buildProject(root: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const build = spawn('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit', signal });
    build.once('error', reject);
    build.once('exit', (code, killedBy) => {
      if (code === 0) resolve();
      else reject(new Error(`npm run build failed (code ${code}, signal ${killedBy})`));
    });
  });
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

export function startGraphQLServer(options: {
  root: string;
  env: Record<string, string>;
  logFile: string;
  onUnexpectedExit: (error: Error) => void;
}): Child {
  const fd = openSync(options.logFile, 'a');
  try {
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: options.root,
      env: options.env,
      stdio: ['ignore', fd, 'inherit'],
      // A process group of its own: a Ctrl-C in the terminal reaches only the bench, which then stops it in order.
      detached: true,
    });
    return watch('GraphQL server', child, options.onUnexpectedExit);
  } finally {
    closeSync(fd); // the child holds its own copy
  }
}

export function startReferenceServer(options: {
  root: string;
  entry: string;
  env: Record<string, string>;
  onUnexpectedExit: (error: Error) => void;
}): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', options.entry], {
    cwd: options.root,
    env: options.env,
    // An IPC channel only so the reference notices when the bench process goes away.
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  return watch('reference server', child, options.onUnexpectedExit);
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Polls `probe` until it returns true; rejects after `timeoutMs` or when `signal` aborts. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  signal: AbortSignal,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(200, signal);
  }
  throw new Error(`${what} was not ready within ${timeoutMs} ms${lastError ? `: ${String(lastError)}` : ''}`);
}
