/**
 * Health: what the server says about itself to Kubernetes, load balancers and people on call.
 *
 * Responsible for the checks (checks.ts: Postgres round trip and pool, pending migrations, Redis as the rate limiter
 * sees it, event-loop delay), the report with its timeouts, cache and readiness state (service.ts), and the probe
 * endpoints /healthz, /readyz and /health (routes.ts). `Query.health` (src/modules/health) reads the same report.
 *
 * Not responsible for the shutdown sequence (app.ts drives it and tells the service when draining starts), for metrics
 * (src/observability/metrics.ts) nor for reconnecting to dependencies (their clients do that by themselves).
 */
import { readFileSync } from 'node:fs';

export * from './checks.js';
export * from './routes.js';
export * from './service.js';

/** The `version` in package.json, from both `src/health` and the compiled `dist/health`. */
export function serviceVersion(): string {
  try {
    const file = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    return (JSON.parse(file) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
