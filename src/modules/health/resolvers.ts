/**
 * Resolvers for schema/health.graphql: `Query.health` reads the report of src/health (the same one GET /health serves),
 * so probes and people see one truth. Not rate limited, and costs no SQL beyond the (cached) checks.
 */
import type { HealthStatus, Resolvers } from '../../generated/graphql.js';
import type { CheckStatus, HealthService } from '../../health/index.js';

const STATUS: Record<CheckStatus, HealthStatus> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };

/** `health` is the app's health service; without one (a schema built for tests), `Query.health` is an error. */
export function createHealthResolvers(health: HealthService | undefined): Resolvers {
  return {
    Query: {
      health: async () => {
        if (!health) throw new Error('No health service is wired into this schema.');
        const report = await health.report();
        return {
          status: STATUS[report.status],
          version: report.version,
          uptimeSeconds: report.uptimeSeconds,
          checks: report.checks.map((check) => ({
            name: check.name,
            componentType: check.componentType,
            status: STATUS[check.status],
            latencyMs: check.latencyMs,
            observedValue: check.observedValue ?? null,
            observedUnit: check.observedUnit ?? null,
            message: check.message ?? null,
            time: check.time,
            details: Object.entries(check.details ?? {}).map(([name, value]) => ({ name, value })),
          })),
        };
      },
    },
  };
}
