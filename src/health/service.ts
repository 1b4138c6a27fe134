/**
 * The health report and the readiness state: runs the checks with a per-check timeout, caches the report briefly and
 * knows whether the server is shutting down.
 *
 * Probes cannot pile load on a struggling dependency: a report is reused for `cacheMs`, concurrent callers share one
 * evaluation, and a check still running from an earlier evaluation (one that timed out) is awaited again rather than
 * started a second time, so each check has at most one run in flight whatever the probe rate.
 *
 * Not responsible for what a check measures (checks.ts) nor for HTTP (routes.ts).
 */
import type { Logger } from '../observability/logger.js';
import { describeFailure, type CheckResult, type CheckStatus, type HealthCheck, type Observation } from './checks.js';

export interface HealthReport {
  /** fail when a critical check fails or the server is shutting down; warn when any check warns. */
  status: CheckStatus;
  version: string;
  uptimeSeconds: number;
  /** When the report was made (ISO 8601); a cached report keeps its time. */
  time: string;
  /** True once shutdown began. */
  draining: boolean;
  checks: CheckResult[];
}

export interface Readiness {
  ready: boolean;
  /** Why not, when not ready: `shutting down`, or the failing checks. */
  reason?: string;
}

export interface HealthService {
  /** The full report, at most `cacheMs` old. */
  report(): Promise<HealthReport>;
  /** Not ready while shutting down (answered at once, without running checks) or while a critical check fails. */
  readiness(): Promise<Readiness>;
  /** Readiness fails from now on; the server keeps serving until the shutdown sequence stops it. */
  startDraining(): void;
  readonly draining: boolean;
  /** Seconds since the service (the app) started. */
  uptimeSeconds(): number;
}

export interface HealthServiceOptions {
  checks: HealthCheck[];
  version: string;
  /** A check that has not answered after this long fails (a non-critical one warns). */
  timeoutMs: number;
  /** How long a report is reused. */
  cacheMs: number;
  logger: Logger;
}

class CheckTimeout extends Error {}

const SEVERITY: Record<CheckStatus, number> = { pass: 0, warn: 1, fail: 2 };

function worst(statuses: Iterable<CheckStatus>): CheckStatus {
  let result: CheckStatus = 'pass';
  for (const status of statuses) if (SEVERITY[status] > SEVERITY[result]) result = status;
  return result;
}

export function createHealthService(options: HealthServiceOptions): HealthService {
  const { checks, timeoutMs, cacheMs, logger } = options;
  const startedAt = performance.now();
  const running = new Map<HealthCheck, Promise<Observation>>();
  const lastStatus = new Map<string, CheckStatus>();
  let cached: { at: number; results: CheckResult[] } | undefined;
  let evaluating: Promise<CheckResult[]> | undefined;
  let draining = false;

  async function runCheck(check: HealthCheck): Promise<CheckResult> {
    const time = new Date().toISOString();
    const began = performance.now();
    let run = running.get(check);
    if (!run) {
      const started = Promise.resolve().then(() => check.run());
      run = started;
      running.set(check, started);
      const clear = () => {
        if (running.get(check) === started) running.delete(check);
      };
      started.then(clear, clear);
    }
    let timer: NodeJS.Timeout | undefined;
    let observation: Observation;
    try {
      observation = await Promise.race([
        run,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new CheckTimeout()), timeoutMs);
        }),
      ]);
    } catch (error) {
      observation = {
        status: 'fail',
        message: error instanceof CheckTimeout ? `timed out after ${timeoutMs} ms` : describeFailure(error),
      };
      if (!(error instanceof CheckTimeout)) logger.debug({ err: error, check: check.name }, 'health check failed');
    } finally {
      clearTimeout(timer);
    }
    const status = !check.critical && observation.status === 'fail' ? 'warn' : observation.status;
    return {
      ...observation,
      status,
      name: check.name,
      componentType: check.componentType,
      latencyMs: Math.round((performance.now() - began) * 100) / 100,
      time,
    };
  }

  /** Logs a check's status when it changes, not on every probe: the log shows when a dependency failed and recovered. */
  function logTransitions(results: CheckResult[]): void {
    for (const result of results) {
      const previous = lastStatus.get(result.name);
      lastStatus.set(result.name, result.status);
      if (previous === result.status || (previous === undefined && result.status === 'pass')) continue;
      const fields = { check: result.name, status: result.status, previous: previous ?? null, message: result.message };
      if (result.status === 'pass') logger.info(fields, 'health check passes again');
      else logger.warn(fields, `health check ${result.status === 'fail' ? 'fails' : 'warns'}`);
    }
  }

  async function evaluate(): Promise<CheckResult[]> {
    if (cached && performance.now() - cached.at < cacheMs) return cached.results;
    evaluating ??= (async () => {
      try {
        const results = await Promise.all(checks.map((check) => runCheck(check)));
        logTransitions(results);
        cached = { at: performance.now(), results };
        return results;
      } finally {
        evaluating = undefined;
      }
    })();
    return evaluating;
  }

  function serverCheck(): CheckResult {
    return {
      name: 'server:draining',
      componentType: 'component',
      status: draining ? 'fail' : 'pass',
      observedValue: draining ? 1 : 0,
      message: draining ? 'shutting down: finishing in-flight requests' : 'accepting requests',
      latencyMs: 0,
      time: new Date().toISOString(),
    };
  }

  const uptimeSeconds = () => Math.round((performance.now() - startedAt) / 10) / 100;

  return {
    async report() {
      const results = [serverCheck(), ...(await evaluate())];
      return {
        status: worst(results.map((result) => result.status)),
        version: options.version,
        uptimeSeconds: uptimeSeconds(),
        time: results[1]?.time ?? new Date().toISOString(),
        draining,
        checks: results,
      };
    },
    async readiness() {
      if (draining) return { ready: false, reason: 'shutting down' };
      const results = await evaluate();
      const failing = results.filter((result) => result.status === 'fail');
      if (draining) return { ready: false, reason: 'shutting down' };
      if (failing.length === 0) return { ready: true };
      const reason = failing.map((result) => `${result.name}: ${result.message ?? 'fail'}`).join('; ');
      return { ready: false, reason };
    },
    startDraining() {
      draining = true;
    },
    get draining() {
      return draining;
    },
    uptimeSeconds,
  };
}
