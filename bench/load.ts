/**
 * The cases and the load generator: one autocannon run (10 connections, JSON POSTs) against one case, with every
 * response's body compared to the case's expected bytes (captured once before measuring; the data never changes,
 * so any difference is an error) and every response's latency recorded at full resolution (autocannon's own
 * histogram rounds to whole milliseconds).
 */
import autocannon from 'autocannon';
import { CASE1_QUERY, TYPENAME_QUERY } from './queries.js';

export const CONNECTIONS = 10;

export interface BenchCase {
  /** Short key, used in request ids: bench.<key>.<phase>. */
  key: string;
  label: string;
  query: string;
  /** Which server answers it: the GraphQL server (rate limits off), the same with rate limits on, or the reference. */
  target: 'graphql' | 'graphql-limited' | 'reference';
  /** Nodes the top-level connection must return (a sanity check of the expected body); undefined to skip. */
  expectedNodes?: number;
  /**
   * The reference case this one's ratios are taken against: the reference's answer to the same query where it has
   * one, else case 1's (`ref`).
   */
  reference: string;
}

export const CASES: readonly BenchCase[] = [
  {
    key: 'c1',
    label: '1 orders+user+payments',
    query: CASE1_QUERY,
    target: 'graphql',
    expectedNodes: 50,
    reference: 'ref',
  },
  {
    key: 'c2',
    label: '2 orders>items>product',
    query: '{ orders(first: 50) { nodes { id items { quantity product { name priceCents } } } } }',
    target: 'graphql',
    expectedNodes: 50,
    reference: 'ref',
  },
  {
    key: 'c3',
    label: '3 users>orders>payments',
    query: '{ users(first: 50) { nodes { name orders(first: 5) { nodes { id payments { amountCents } } } } } }',
    target: 'graphql',
    expectedNodes: 50,
    reference: 'ref',
  },
  { key: 'c4', label: '4 __typename', query: TYPENAME_QUERY, target: 'graphql', reference: 'ref4' },
  {
    key: 'c1rl',
    label: '1 with @rateLimit (Redis)',
    query: CASE1_QUERY,
    target: 'graphql-limited',
    expectedNodes: 50,
    reference: 'ref',
  },
  {
    key: 'ref',
    label: '5 reference (case 1)',
    query: CASE1_QUERY,
    target: 'reference',
    expectedNodes: 50,
    reference: 'ref',
  },
  { key: 'ref4', label: '6 reference (case 4)', query: TYPENAME_QUERY, target: 'reference', reference: 'ref4' },
];

export function requestBody(benchCase: BenchCase): string {
  return JSON.stringify({ query: benchCase.query });
}

export interface RunResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses received (any status). */
  responses: number;
  durationSeconds: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
  /** 2xx responses whose body differs from the expected bytes (non-2xx ones are counted in non2xx only). */
  mismatches: number;
  /** A few offending bodies or error messages, for the report. */
  samples: string[];
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function runLoad(options: {
  url: string;
  body: string;
  expectBody: string;
  /** Bearer tokens, one per request in turn (so each caller stays under its rate limit). */
  tokens: readonly string[];
  requestId: string;
  durationSeconds: number;
  signal: AbortSignal;
}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    let mismatches = 0;
    let nextToken = 0;
    const samples: string[] = [];
    const sample = (text: string) => {
      if (samples.length < 3) samples.push(text.length > 300 ? `${text.slice(0, 300)}…` : text);
    };

    const instance = autocannon(
      {
        url: options.url,
        connections: CONNECTIONS,
        pipelining: 1,
        duration: options.durationSeconds,
        timeout: 10,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': options.requestId },
        body: options.body,
        requests: [
          {
            setupRequest: (request: { headers: Record<string, string> }) => {
              nextToken = (nextToken + 1) % options.tokens.length;
              request.headers = { ...request.headers, authorization: `Bearer ${options.tokens[nextToken]}` };
              return request;
            },
            // autocannon refuses `expectBody` together with `requests`: each body is checked here instead.
            onResponse: (status: number, body: string) => {
              if (status < 200 || status > 299 || body === options.expectBody) return;
              mismatches++;
              sample(`unexpected body: ${body}`);
            },
          },
        ],
      },
      (error, result) => {
        options.signal.removeEventListener('abort', onAbort);
        if (options.signal.aborted) return reject(options.signal.reason);
        if (error) return reject(error);
        const sorted = latencies.subarray(0, count).sort();
        resolve({
          reqPerSec: result.requests.total / result.duration,
          p50Ms: percentile(sorted, 50),
          p99Ms: percentile(sorted, 99),
          responses: result.requests.total,
          durationSeconds: result.duration,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          mismatches,
          samples,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = ms;
      if (statusCode < 200 || statusCode > 299) sample(`HTTP ${statusCode}`);
    });
    instance.on('reqError', (error) => sample(`request error: ${error.message}`));
    const onAbort = () => instance.stop();
    options.signal.addEventListener('abort', onAbort, { once: true });
  });
}
