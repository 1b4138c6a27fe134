/**
 * The HTTP layer, on node:http: routing, request ids, body limits, authentication and the hand-off to Apollo's
 * `executeHTTPGraphQLRequest`. It answers malformed HTTP itself (400, 413, 415) with GraphQL-shaped error bodies, so
 * nothing a client sends can crash the process or surface as a 500.
 *
 * Other capabilities (probes, metrics) register routes in `routes`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import { resolvePrincipal, type Principal } from '../auth/principal.js';
import type { HttpConfig, IdempotencyConfig } from '../config/index.js';
import type { Database } from '../db/client.js';
import { isDatabaseUnavailable } from '../db/errors.js';
import { SqlStats } from '../db/instrument.js';
import { createContext, type GraphQLContext } from '../graphql/context.js';
import { BusinessError, ErrorCode } from '../graphql/errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, requestId: string) => void | Promise<void>;

export interface HttpServerOptions {
  config: HttpConfig;
  maxBatchSize: number;
  apollo: ApolloServer<GraphQLContext>;
  database: Database;
  logger: Logger;
  idempotency: IdempotencyConfig;
  /** Extra routes by exact path (e.g. probes); /graphql is built in. */
  routes?: Map<string, RouteHandler>;
  /** Request counts and latency by route, and DataLoader batch sizes; none recorded when absent. */
  metrics?: Metrics;
  /**
   * True once shutdown began: every response then carries `Connection: close`, so keep-alive clients reconnect (to
   * another instance) instead of holding a connection to this one.
   */
  isDraining?: () => boolean;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const JSON_CONTENT_TYPE = /^application\/(?:graphql-response\+)?json\s*(?:;|$)/i;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, { errors: [{ message: error.message, extensions: { code: error.code } }] }, error.headers);
}

/** Reads the body up to `maxBytes`; larger bodies are refused with 413 without buffering them. */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > maxBytes) {
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, 'PAYLOAD_TOO_LARGE', `The request body exceeds the limit of ${maxBytes} bytes.`, {
    connection: 'close',
  });
}

async function parseGraphQLBody(req: IncomingMessage, config: HttpConfig, maxBatchSize: number): Promise<unknown> {
  const contentType = req.headers['content-type'] ?? '';
  if (!JSON_CONTENT_TYPE.test(contentType)) {
    throw new HttpError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'POST /graphql takes a JSON body: send "Content-Type: application/json".',
      { accept: 'application/json' },
    );
  }
  const raw = await readBody(req, config.maxBodyBytes);
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'The request body is not valid JSON.');
  }
  if (Array.isArray(body) && body.length > maxBatchSize) {
    throw new HttpError(
      400,
      'BATCH_TOO_LARGE',
      `A batched request may hold at most ${maxBatchSize} operations (got ${body.length}).`,
    );
  }
  return body;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The client's IP (the principal's `ip`, the rate-limit identity of anonymous callers). With TRUST_PROXY=N (N proxies
 * in front, each appending its peer to X-Forwarded-For) it is the Nth address from the right of X-Forwarded-For plus
 * the socket peer: the address the outermost trusted proxy saw. Entries further left are client-supplied and ignored;
 * a trusted entry that is not an IP falls back to the peer. IPv4-mapped IPv6 addresses are unwrapped.
 */
function clientIp(req: IncomingMessage, trustProxyHops: number): string {
  let ip = req.socket.remoteAddress ?? 'unknown';
  if (trustProxyHops > 0) {
    const header = req.headers['x-forwarded-for'];
    const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    const chain = [...forwarded, ip];
    const candidate = chain[Math.max(0, chain.length - 1 - trustProxyHops)]!;
    if (/^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/.test(candidate)) ip = candidate;
  }
  return /^::ffff:[0-9.]+$/i.test(ip) ? ip.slice(7) : ip;
}

export function createHttpServer(options: HttpServerOptions): Server {
  const { apollo, database, logger, config } = options;
  const routes = options.routes ?? new Map<string, RouteHandler>();

  async function handleGraphQL(req: IncomingMessage, res: ServerResponse, requestId: string, url: URL) {
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers':
          'content-type, authorization, idempotency-key, x-request-id, apollo-require-preflight, x-apollo-operation-name',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') {
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'Use GET or POST for /graphql.', { allow: 'GET, POST' });
    }
    const body = method === 'POST' ? await parseGraphQLBody(req, config, options.maxBatchSize) : undefined;

    // Who is asking: the whole request is refused before execution when the credentials are bad.
    let principal: Principal;
    // The token lookup (one statement for an authenticated request) is not the operation's: the operation's figures
    // depend only on its shape.
    const operationStats = new SqlStats();
    try {
      principal = await resolvePrincipal(database, req.headers.authorization, clientIp(req, config.trustProxyHops));
    } catch (error) {
      if (error instanceof BusinessError) {
        throw new HttpError(401, ErrorCode.UNAUTHENTICATED, error.message, { 'www-authenticate': 'Bearer' });
      }
      if (isDatabaseUnavailable(error)) {
        throw new HttpError(503, ErrorCode.SERVICE_UNAVAILABLE, 'The database is unavailable. Retry later.', {
          'retry-after': '1',
        });
      }
      throw error;
    }

    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    let context: GraphQLContext | undefined;
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: method === 'HEAD' ? 'GET' : method, headers, search: url.search, body },
      context: async () => {
        context = createContext({
          requestId,
          principal,
          database,
          sqlStats: operationStats,
          logger,
          idempotencyConfig: options.idempotency,
          idempotencyKeyHeader: headerValue(req.headers['idempotency-key']),
          observeBatch: options.metrics?.observeBatch,
        });
        return context;
      },
    });

    res.statusCode = response.status ?? 200;
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.setHeader('access-control-allow-origin', '*');
    if (response.body.kind === 'complete') {
      res.setHeader('content-length', Buffer.byteLength(response.body.string));
      res.end(method === 'HEAD' ? undefined : response.body.string);
    } else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
    // The body is serialised: let go of what the request loaded (see GraphQLContext.release).
    context?.release();
    return {
      operationName: context?.operationNames.join(',') || undefined,
      statements: operationStats.statements,
      sqlMs: operationStats.sqlMs,
    };
  }

  const server = createServer(async (req, res) => {
    const startedAt = performance.now();
    const incomingId = req.headers['x-request-id'];
    const requestId = typeof incomingId === 'string' && REQUEST_ID_PATTERN.test(incomingId) ? incomingId : randomUUID();
    res.setHeader('x-request-id', requestId);
    if (options.isDraining) {
      // Decided as the response starts, so requests already in flight when shutdown begins close their connection too.
      const isDraining = options.isDraining;
      const writeHead = res.writeHead;
      res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
        if (isDraining() && !this.headersSent) this.setHeader('connection', 'close');
        return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
      } as ServerResponse['writeHead'];
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendError(res, new HttpError(400, 'BAD_REQUEST', 'Malformed request URL.'));
      return;
    }
    let figures: { operationName: string | undefined; statements: number; sqlMs: number } | undefined;
    try {
      const route = routes.get(url.pathname);
      if (url.pathname === '/graphql') {
        figures = await handleGraphQL(req, res, requestId, url);
      } else if (route) {
        await route(req, res, requestId);
      } else {
        throw new HttpError(404, 'NOT_FOUND', `No route for ${url.pathname}. GraphQL is served at /graphql.`);
      }
    } catch (error) {
      if (res.headersSent) {
        logger.error({ err: error, requestId }, 'request failed after the response started');
        res.destroy();
      } else if (error instanceof HttpError) {
        sendError(res, error);
      } else {
        logger.error({ err: error, requestId }, 'request failed');
        sendError(res, new HttpError(500, ErrorCode.INTERNAL_SERVER_ERROR, 'Unexpected server error.'));
      }
    }
    const entry = {
      requestId,
      method: req.method,
      path: url.pathname,
      status: res.statusCode,
      durationMs: Math.round((performance.now() - startedAt) * 100) / 100,
      ...(figures && {
        operationName: figures.operationName,
        statements: figures.statements,
        sqlMs: Math.round(figures.sqlMs * 100) / 100,
      }),
    };
    if (url.pathname === '/graphql') logger.info(entry, 'request completed');
    else logger.debug(entry, 'request completed');
    if (options.metrics) {
      const route = url.pathname === '/graphql' || routes.has(url.pathname) ? url.pathname : '(unmatched)';
      const method = req.method ?? 'GET';
      options.metrics.httpRequests.inc({ method, route, status: String(res.statusCode) });
      options.metrics.httpRequestDuration.observe({ method, route }, (performance.now() - startedAt) / 1000);
    }
  });

  // Bound slow clients: a request must arrive in full within 30 s, headers within 10 s.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 65_000;
  return server;
}
