/**
 * Turns the per-round measurements into the per-case summary (medians across rounds, ratios to the reference,
 * statements per request, errors), prints it as a table and shapes bench/results/latest.json.
 */
import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import type { SeedOptions, SeedSummary } from '../src/db/seed.js';
import { median, type BenchCase, type RunResult } from './load.js';

export const TARGET = { caseKey: 'c1', minReqPerSecRatio: 0.8, maxP99Ratio: 2 } as const;

export interface RoundResult extends RunResult {
  round: number;
  /** 1-based position of the case in that round's order. */
  position: number;
}

export interface StatementFigures {
  requests: number;
  statements: number;
  min: number;
  max: number;
  /** GraphQL server only, from its log: mean time in the server and mean SQL wall time per request. */
  meanServerMs?: number;
  meanSqlMs?: number;
}

export interface CaseErrors {
  non2xx: number;
  connectionErrors: number;
  timeouts: number;
  /** 2xx responses whose body was not the expected one. */
  bodyMismatches: number;
  /** From the GraphQL server's log: requests logged with a non-2xx status, and error-level lines. */
  serverNon2xx: number;
  serverErrorLines: number;
  /** Failed requests seen by the load generator: non-2xx + connection errors/timeouts + unexpected 2xx bodies. */
  total: number;
  samples: string[];
}

export interface CaseSummary {
  key: string;
  label: string;
  query: string;
  target: BenchCase['target'];
  /** The reference case the ratios are taken against. */
  reference: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  statementsPerRequest: number | null;
  statements: StatementFigures | null;
  reqPerSecVsReference: number;
  p99VsReference: number;
  errors: CaseErrors;
  warmup: RunResult | null;
  rounds: RoundResult[];
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  platform: string;
  arch: string;
  totalMemoryGiB: number;
  node: string;
  /** 1-minute load average when the bench started: anything well above 0 means other work shared the machine. */
  loadAverageAtStart: number;
}

export interface BenchReport {
  date: string;
  machine: Machine;
  settings: {
    durationSeconds: number;
    rounds: number;
    warmupSeconds: number;
    /** Unmeasured load right before each measured run. */
    rewarmSeconds: number;
    connections: number;
  };
  seed: { options: SeedOptions; summary: SeedSummary };
  target: {
    caseKey: string;
    minReqPerSecRatio: number;
    maxP99Ratio: number;
    reqPerSecRatio: number;
    p99Ratio: number;
    reqPerSecMet: boolean;
    p99Met: boolean;
    met: boolean;
  };
  cases: CaseSummary[];
  /** Every case free of errors. */
  ok: boolean;
}

export function describeMachine(): Machine {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    platform: platform(),
    arch: arch(),
    totalMemoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    loadAverageAtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

export function emptyErrors(): CaseErrors {
  return {
    non2xx: 0,
    connectionErrors: 0,
    timeouts: 0,
    bodyMismatches: 0,
    serverNon2xx: 0,
    serverErrorLines: 0,
    total: 0,
    samples: [],
  };
}

/** Adds one run's client-side errors. */
export function addRunErrors(errors: CaseErrors, run: RunResult): void {
  errors.non2xx += run.non2xx;
  errors.connectionErrors += run.errors;
  errors.timeouts += run.timeouts;
  errors.bodyMismatches += run.mismatches;
  for (const sample of run.samples) if (errors.samples.length < 5) errors.samples.push(sample);
}

export function finishErrors(errors: CaseErrors): CaseErrors {
  // Timeouts are counted among autocannon's errors already.
  errors.total = errors.non2xx + errors.connectionErrors + errors.bodyMismatches;
  return errors;
}

/** True when neither the load generator nor the server's log saw anything go wrong. */
export function isClean(errors: CaseErrors): boolean {
  return errors.total === 0 && errors.serverNon2xx === 0 && errors.serverErrorLines === 0;
}

export function summariseCase(
  benchCase: BenchCase,
  rounds: RoundResult[],
  warmup: RunResult | null,
  statements: StatementFigures | null,
  errors: CaseErrors,
): Omit<CaseSummary, 'reqPerSecVsReference' | 'p99VsReference'> {
  return {
    key: benchCase.key,
    label: benchCase.label,
    query: benchCase.query,
    target: benchCase.target,
    reference: benchCase.reference,
    reqPerSec: median(rounds.map((r) => r.reqPerSec)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    statementsPerRequest: statements && statements.requests > 0 ? statements.statements / statements.requests : null,
    statements,
    errors: finishErrors(errors),
    warmup,
    rounds,
  };
}

export function withRatios(
  summaries: Array<Omit<CaseSummary, 'reqPerSecVsReference' | 'p99VsReference'>>,
): CaseSummary[] {
  return summaries.map((s) => {
    const reference = summaries.find((r) => r.key === s.reference && r.target === 'reference');
    if (!reference) throw new Error(`case ${s.key}: no reference case ${s.reference}`);
    return {
      ...s,
      reqPerSecVsReference: s.reqPerSec / reference.reqPerSec,
      p99VsReference: s.p99Ms / reference.p99Ms,
    };
  });
}

export function evaluateTarget(cases: CaseSummary[]): BenchReport['target'] {
  const subject = cases.find((c) => c.key === TARGET.caseKey);
  if (!subject) throw new Error(`no case ${TARGET.caseKey}`);
  const reqPerSecMet = subject.reqPerSecVsReference >= TARGET.minReqPerSecRatio;
  const p99Met = subject.p99VsReference <= TARGET.maxP99Ratio;
  return {
    ...TARGET,
    reqPerSecRatio: subject.reqPerSecVsReference,
    p99Ratio: subject.p99VsReference,
    reqPerSecMet,
    p99Met,
    met: reqPerSecMet && p99Met,
  };
}

function pad(text: string, width: number, left = false): string {
  return left ? text.padEnd(width) : text.padStart(width);
}

function statementsText(c: CaseSummary): string {
  if (!c.statements || c.statementsPerRequest === null) return 'n/a';
  const mean = Number.isInteger(c.statementsPerRequest) ? String(c.statementsPerRequest) : c.statementsPerRequest.toFixed(2);
  return c.statements.min === c.statements.max ? mean : `${mean} (${c.statements.min}-${c.statements.max})`;
}

export function formatReport(report: BenchReport): string {
  const m = report.machine;
  const s = report.settings;
  const lines: string[] = [];
  lines.push(
    `Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.totalMemoryGiB} GiB, ${m.platform}/${m.arch}, Node ${m.node}, ` +
      `load average ${m.loadAverageAtStart} at start`,
    `Date: ${report.date}`,
    `Load: autocannon, ${s.connections} connections, ${s.rounds} round(s) × ${s.durationSeconds} s per case ` +
      `(order rotated each round), ${s.warmupSeconds} s warm-up per case, ${s.rewarmSeconds} s more before each run`,
    `Data: ${Object.entries(report.seed.summary)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}`,
    '',
  );
  const header = [
    pad('case', 26, true),
    pad('req/s', 9),
    pad('×ref', 6),
    pad('p50 ms', 8),
    pad('p99 ms', 8),
    pad('p99 ×ref', 9),
    pad('stmts/req', 10),
    pad('errors', 7),
  ];
  lines.push(header.join('  '));
  lines.push('-'.repeat(header.join('  ').length));
  for (const c of report.cases) {
    lines.push(
      [
        pad(c.label, 26, true),
        pad(c.reqPerSec.toFixed(0), 9),
        pad(c.reqPerSecVsReference.toFixed(2), 6),
        pad(c.p50Ms.toFixed(2), 8),
        pad(c.p99Ms.toFixed(2), 8),
        pad(c.p99VsReference.toFixed(2), 9),
        pad(statementsText(c), 10),
        pad(String(c.errors.total), 7),
      ].join('  '),
    );
  }
  const t = report.target;
  const againstOthers = report.cases.filter((c) => c.reference !== 'ref' && c.key !== c.reference);
  lines.push(
    '',
    `×ref: against the reference's answer to case 1 (ref)${againstOthers
      .map((c) => `; ${c.key} against ${c.reference}, the reference's answer to the same query`)
      .join('')}.`,
    `Per-round req/s: ${report.cases
      .map((c) => `${c.key} ${c.rounds.map((r) => r.reqPerSec.toFixed(0)).join('/')}`)
      .join(', ')}`,
    `Target for case 1: req/s >= ${t.minReqPerSecRatio}× reference (${t.reqPerSecRatio.toFixed(2)}×: ` +
      `${t.reqPerSecMet ? 'met' : 'NOT met'}), p99 <= ${t.maxP99Ratio}× reference (${t.p99Ratio.toFixed(2)}×: ` +
      `${t.p99Met ? 'met' : 'NOT met'}) => ${t.met ? 'MET' : 'NOT MET'}`,
  );
  for (const c of report.cases) {
    if (isClean(c.errors)) continue;
    const e = c.errors;
    lines.push(
      `Errors in ${c.label}: ${e.non2xx} non-2xx, ${e.connectionErrors} connection errors (${e.timeouts} timeouts), ` +
        `${e.bodyMismatches} unexpected bodies, server log: ${e.serverNon2xx} non-2xx, ${e.serverErrorLines} error lines`,
    );
    for (const sample of e.samples) lines.push(`    ${sample}`);
  }
  lines.push(report.ok ? 'No errors in any case.' : 'FAILED: some cases had errors (see above).');
  return lines.join('\n');
}
