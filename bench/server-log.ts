/**
 * Reads the GraphQL server's JSON log (one pino line per request, `msg: "request completed"`, with the SQL
 * `statements` it cost) and sums it per request id, which the bench sets per case and phase. Lines at error level
 * or worse are counted as well, per request id when they carry one.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface RequestFigures {
  requests: number;
  statements: number;
  minStatements: number;
  maxStatements: number;
  /** Sums of the logged `durationMs` (time in the server) and `sqlMs` (SQL wall time, pool waits included). */
  durationMs: number;
  sqlMs: number;
  /** Requests the server logged with a status outside 2xx. */
  non2xx: number;
  /** Lines at pino level error (50) or fatal (60). */
  errorLines: number;
}

export interface ServerLog {
  byRequestId: Map<string, RequestFigures>;
  /** Error lines that carry no request id. */
  errorLinesWithoutId: number;
  /** A few error lines, as logged. */
  errorSamples: string[];
}

const ERROR_LEVEL = 50;

function figuresFor(map: Map<string, RequestFigures>, requestId: string): RequestFigures {
  let figures = map.get(requestId);
  if (!figures) {
    figures = { requests: 0, statements: 0, minStatements: Infinity, maxStatements: -Infinity, durationMs: 0, sqlMs: 0, non2xx: 0, errorLines: 0 };
    map.set(requestId, figures);
  }
  return figures;
}

export async function readServerLog(file: string): Promise<ServerLog> {
  const log: ServerLog = { byRequestId: new Map(), errorLinesWithoutId: 0, errorSamples: [] };
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.startsWith('{')) continue;
    let entry: {
      msg?: unknown;
      level?: unknown;
      requestId?: unknown;
      statements?: unknown;
      status?: unknown;
      durationMs?: unknown;
      sqlMs?: unknown;
    };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    const requestId = typeof entry.requestId === 'string' ? entry.requestId : undefined;
    if (typeof entry.level === 'number' && entry.level >= ERROR_LEVEL) {
      if (log.errorSamples.length < 3) log.errorSamples.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
      if (requestId) figuresFor(log.byRequestId, requestId).errorLines++;
      else log.errorLinesWithoutId++;
    }
    if (entry.msg !== 'request completed' || !requestId) continue;
    const figures = figuresFor(log.byRequestId, requestId);
    const statements = typeof entry.statements === 'number' ? entry.statements : 0;
    figures.requests++;
    figures.statements += statements;
    figures.minStatements = Math.min(figures.minStatements, statements);
    figures.maxStatements = Math.max(figures.maxStatements, statements);
    if (typeof entry.durationMs === 'number') figures.durationMs += entry.durationMs;
    if (typeof entry.sqlMs === 'number') figures.sqlMs += entry.sqlMs;
    if (typeof entry.status !== 'number' || entry.status < 200 || entry.status > 299) figures.non2xx++;
  }
  return log;
}
