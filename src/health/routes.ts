/**
 * The probe endpoints, registered in the HTTP layer's `routes`:
 * - GET /healthz (liveness): 200 whenever the process and its event loop answer. It checks no dependency, so a database
 *   outage never makes Kubernetes restart every instance.
 * - GET /readyz (readiness): 503 while shutting down, while Postgres is unreachable or while migrations are pending;
 *   200 otherwise, including when only Redis is down (rate limiting degrades, the report warns).
 * - GET /health: the full report as `application/health+json` (draft-inadarei-api-health-check), 200 for pass and warn,
 *   503 for fail.
 * HEAD answers each with the same status and headers and no body. Answers are never cached by intermediaries.
 *
 * Not responsible for running checks or caching (service.ts), nor for logging requests (the HTTP layer logs non-GraphQL
 * paths at debug level, so probes do not flood the info log).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthReport, HealthService } from './service.js';

const HEALTH_JSON = 'application/health+json; charset=utf-8';

export type ProbeHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

function send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': HEALTH_JSON,
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : payload);
}

/** GET and HEAD only; anything else is 405 in the server's usual error shape. */
function probe(handler: ProbeHandler): ProbeHandler {
  return async (req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD') return handler(req, res);
    const payload = JSON.stringify({
      errors: [{ message: 'Use GET or HEAD.', extensions: { code: 'METHOD_NOT_ALLOWED' } }],
    });
    res.writeHead(405, {
      allow: 'GET, HEAD',
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
    });
    res.end(payload);
  };
}

/**
 * The report in draft-inadarei-api-health-check form: checks keyed `component:measurement`, each an array of check
 * objects with componentType, observedValue, observedUnit, status, time and output. The draft reserves `output` for
 * warn and fail; it is kept on a pass too when it says something an operator needs (e.g. "not configured: in-process
 * limiter" for Redis). Non-standard keys the draft allows: `latencyMs` (how long the check took) and `details` (e.g.
 * the pool's idle and waiting counts).
 */
export function toHealthJson(report: HealthReport): Record<string, unknown> {
  const checks: Record<string, Array<Record<string, unknown>>> = {
    uptime: [
      {
        componentType: 'system',
        observedValue: report.uptimeSeconds,
        observedUnit: 's',
        status: 'pass',
        time: new Date().toISOString(),
      },
    ],
  };
  for (const check of report.checks) {
    (checks[check.name] ??= []).push({
      componentType: check.componentType,
      ...(check.observedValue !== undefined && check.observedValue !== null && { observedValue: check.observedValue }),
      ...(check.observedUnit !== undefined && { observedUnit: check.observedUnit }),
      status: check.status,
      time: check.time,
      ...(check.message !== undefined && { output: check.message }),
      latencyMs: check.latencyMs,
      ...(check.details !== undefined && { details: check.details }),
    });
  }
  const failing = report.checks.filter((check) => check.status !== 'pass');
  return {
    status: report.status,
    version: report.version,
    serviceId: 'ledger-graphql',
    description: 'ledger-graphql: GraphQL API over PostgreSQL',
    ...(failing.length > 0 && {
      output: failing.map((check) => `${check.name}: ${check.message ?? check.status}`).join('; '),
    }),
    checks,
  };
}

export function createHealthRoutes(health: HealthService): Map<string, ProbeHandler> {
  return new Map<string, ProbeHandler>([
    ['/healthz', probe(async (req, res) => send(req, res, 200, { status: 'pass' }))],
    [
      '/readyz',
      probe(async (req, res) => {
        const readiness = await health.readiness();
        if (readiness.ready) send(req, res, 200, { status: 'pass' });
        else send(req, res, 503, { status: 'fail', output: readiness.reason });
      }),
    ],
    [
      '/health',
      probe(async (req, res) => {
        const report = await health.report();
        send(req, res, report.status === 'fail' ? 503 : 200, toHealthJson(report));
      }),
    ],
  ]);
}
