/**
 * The hand-written reference, run by bench/run.ts as a child process of its own: node:http and postgres.js (same
 * pool settings as the GraphQL server's defaults), no GraphQL, no logging. It parses each POST /graphql body and
 * answers the two queries it knows, after the same token check the server makes:
 * - case 1: the first 50 orders (newest first) with their user's name and their payments, using the minimal batched
 *   queries: the page (`order by id desc limit 51`, like the server's "one extra row" page), then users and payments
 *   by `= any($1)` in parallel;
 * - case 4, `{ __typename }`: nothing more than the token check, so the GraphQL server's case 4 against it is the
 *   framework's fixed cost per request.
 * Each body has exactly the bytes Apollo would send. GET /__stats reports how many requests and SQL statements it has
 * served.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import postgres from 'postgres';
import { readReferenceSettings } from './env.js';
import { CASE1_QUERY, TYPENAME_QUERY } from './queries.js';

const settings = readReferenceSettings();
const sql = postgres(settings.databaseUrl, {
  max: settings.poolMax,
  idle_timeout: settings.idleTimeoutSeconds,
  connect_timeout: settings.connectTimeoutSeconds,
  connection: {
    application_name: 'ledger-bench-reference',
    ...(settings.statementTimeoutMs > 0 ? { statement_timeout: settings.statementTimeoutMs } : {}),
  },
  onnotice: () => {},
});

const PAGE_SIZE = 50;

/**
 * Runs a prepared statement the way the server runs its statements (NOT_PIPELINED in src/db/instrument.ts): never
 * pipelined behind another statement on a busy connection, which in postgres.js 3.4 makes each statement cost more
 * than the last under sustained load.
 */
function query<T extends object>(text: string, parameters: unknown[]): Promise<T[]> {
  return sql.unsafe(text, parameters as postgres.ParameterOrJSON<never>[], {
    prepare: true,
    onexecute: () => false,
  } as postgres.UnsafeQueryOptions) as unknown as Promise<T[]>;
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

let requests = 0;
let statements = 0;

interface OrderRow {
  id: number;
  user_id: number;
  total_cents: number;
}

/** The same check the server makes: the bearer token's hash names a live token (one statement). */
async function authenticate(header: string | undefined): Promise<boolean> {
  const match = /^Bearer (\S+)$/.exec(header ?? '');
  if (!match) return false;
  const hash = createHash('sha256').update(match[1]!).digest('hex');
  const rows = await query('select user_id, role from api_tokens where token_hash = $1 and revoked_at is null', [hash]);
  return rows.length === 1;
}

/** Case 1's body, and the statements it took (the token lookup aside). */
async function ordersPage(): Promise<{ body: string; statements: number }> {
  let issued = 1;
  const rows = await query<OrderRow>('select id, user_id, total_cents from orders order by id desc limit $1', [
    PAGE_SIZE + 1,
  ]);
  const page = rows.length > PAGE_SIZE ? rows.slice(0, PAGE_SIZE) : rows;
  const userIds = [...new Set(page.map((row) => row.user_id))];
  const orderIds = page.map((row) => row.id);
  issued += 2;
  const [users, payments] = await Promise.all([
    query<{ id: number; name: string }>('select id, name from users where id = any($1::int[])', [userIds]),
    query<{ order_id: number; amount_cents: number }>(
      'select order_id, amount_cents from payments where order_id = any($1::int[]) order by order_id, id',
      [orderIds],
    ),
  ]);

  const names = new Map<number, string>();
  for (const user of users) names.set(user.id, user.name);
  const paymentsByOrder = new Map<number, Array<{ amountCents: number }>>();
  for (const payment of payments) {
    const list = paymentsByOrder.get(payment.order_id);
    if (list) list.push({ amountCents: payment.amount_cents });
    else paymentsByOrder.set(payment.order_id, [{ amountCents: payment.amount_cents }]);
  }
  const nodes = page.map((order) => {
    const name = names.get(order.user_id);
    if (name === undefined) throw new Error(`Broken reference: User ${order.user_id} is missing`);
    return {
      id: String(order.id),
      totalCents: order.total_cents,
      user: { name },
      payments: paymentsByOrder.get(order.id) ?? [],
    };
  });
  // Apollo serialises with JSON.stringify(result) + "\n".
  return { body: `${JSON.stringify({ data: { orders: { nodes } } })}\n`, statements: issued };
}

function send(res: ServerResponse, status: number, body: string, requestId: string): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
    'access-control-allow-origin': '*',
  });
  res.end(body);
}

const TYPENAME_BODY = `${JSON.stringify({ data: { __typename: 'Query' } })}\n`;
const UNKNOWN_QUERY_BODY = '{"errors":[{"message":"The reference answers case 1 and case 4 only."}]}\n';

/** How to answer one of the known queries once the caller is authenticated: the body and the statements it took. */
function answerFor(query: unknown): (() => Promise<{ body: string; statements: number }>) | undefined {
  if (query === CASE1_QUERY) return ordersPage;
  if (query === TYPENAME_QUERY) return async () => ({ body: TYPENAME_BODY, statements: 0 });
  return undefined;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const incomingId = req.headers['x-request-id'];
  const requestId = typeof incomingId === 'string' && REQUEST_ID_PATTERN.test(incomingId) ? incomingId : randomUUID();
  if (req.method === 'POST' && req.url === '/graphql') {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let query: unknown;
      try {
        query = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query?: unknown }).query;
      } catch {
        send(res, 400, '{"errors":[{"message":"The request body is not valid JSON."}]}\n', requestId);
        return;
      }
      const answer = answerFor(query);
      if (!answer) {
        send(res, 400, UNKNOWN_QUERY_BODY, requestId);
        return;
      }
      authenticate(req.headers.authorization)
        .then(async (ok) => (ok ? { ...(await answer()), authenticated: true } : { authenticated: false as const }))
        .then(
          (outcome) => {
            if (!outcome.authenticated) {
              send(res, 401, '{"errors":[{"message":"Unauthenticated."}]}\n', requestId);
              return;
            }
            // Counted together, so /__stats never shows half a request. The token lookup is not counted, as the
            // GraphQL server does not count it in its operations' figures either.
            requests++;
            statements += outcome.statements;
            send(res, 200, outcome.body, requestId);
          },
          (error: unknown) => {
            console.error('reference: request failed', error);
            send(res, 500, '{"errors":[{"message":"Unexpected server error."}]}\n', requestId);
          },
        );
    });
    return;
  }
  if (req.method === 'GET' && req.url === '/__stats') {
    send(res, 200, JSON.stringify({ requests, statements }), requestId);
    return;
  }
  send(res, 404, '{"errors":[{"message":"Not found."}]}\n', requestId);
}

const server = createServer(handle);
server.keepAliveTimeout = 65_000;

let stopping = false;
function shutdown(): void {
  if (stopping) process.exit(1);
  stopping = true;
  setTimeout(() => process.exit(1), 10_000).unref();
  server.close(() => {
    sql.end({ timeout: 5 }).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  server.closeIdleConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Started with an IPC channel: if the bench process dies, the channel closes and the reference goes too.
process.on('disconnect', shutdown);

server.listen(settings.port, '127.0.0.1');
