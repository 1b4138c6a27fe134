/**
 * Database access: one `Database` over either a postgres.js pool (when `DATABASE_URL` is set) or an embedded PGlite
 * database, with the same drizzle schema and migrations. Request code asks for `forOperation(stats)`: a reader of
 * prepared statements (statements.ts) and a drizzle handle, both counting into that operation's `SqlStats`.
 *
 * With postgres.js, every connection fails fast when the server is gone: a bounded connect timeout and reconnect
 * backoff, a clean close during the handshake treated as an error (`failFastSocket`), and a socket that stops
 * answering mid-statement destroyed once the statement timeout has long passed. Health checks get a connection of
 * their own (`probeDb`), so a probe neither waits behind a saturated pool nor takes a connection from requests.
 */
import { mkdirSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { sql as drizzleSql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePGlite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { DatabaseConfig } from '../config/index.js';
import {
  instrumentPGlite,
  instrumentPostgres,
  NOT_PIPELINED,
  PoolUsage,
  type SqlStats,
  trackPGlitePoolUsage,
  trackPostgresPoolUsage,
} from './instrument.js';
import type { Reader, Statement, StatementValues } from './statements.js';

/** A drizzle handle: the database itself or an open transaction (a transaction is a `PgDatabase` too). */
export type Db = PgDatabase<PgQueryResultHKT>;

/**
 * The connection pool right now. `busy` and `waiting` are derived from the statements and transactions in flight
 * (a statement finding every connection in use waits in the pool's queue): the figures show saturation.
 */
export interface PoolStatus {
  /** Most connections the pool may open (1 for the embedded database). */
  max: number;
  /** Connections open now. */
  open: number;
  /** Open connections running a statement or holding a transaction. */
  busy: number;
  /** Open connections with nothing to do. */
  idle: number;
  /** Statements and transactions in flight beyond the open connections: waiting for a connection of their own. */
  waiting: number;
}

/** One operation's access to the database: everything it runs is counted into its `SqlStats`. */
export interface OperationDb {
  /** Prepared read statements on the pool. */
  readonly reader: Reader;
  /** A drizzle handle (writes, transactions), created on first use. */
  readonly db: Db;
}

export interface Database {
  readonly kind: 'postgres' | 'embedded';
  /** Uninstrumented handle for start-up work, scripts and background jobs. */
  readonly db: Db;
  /** Uncounted prepared read statements on the pool (the token lookup, background work). */
  readonly reader: Reader;
  /** Handles whose statements are counted into `stats`; create one per operation. */
  forOperation(stats: SqlStats): OperationDb;
  /** Prepared read statements run through a drizzle handle: an open transaction sees its own writes. */
  readerFor(db: Db): Reader;
  /** Rows of a raw SQL statement, the same shape on both drivers. */
  rows<T>(db: Db, query: ReturnType<typeof drizzleSql>): Promise<T[]>;
  /** A handle on a connection of its own, for health checks: never queued behind the pool, never counted in it. */
  readonly probeDb: Db;
  poolStatus(): PoolStatus;
  close(): Promise<void>;
  readonly poolMax: number;
}

export function createDatabase(config: DatabaseConfig): Promise<Database> {
  return config.url ? Promise.resolve(createPostgresDatabase(config, config.url)) : createEmbeddedDatabase(config);
}

/**
 * postgres.js retries a failed connection after a backoff that grows to 20 s, and a statement issued meanwhile waits
 * for that backoff before it even tries. Capped at 1 s, a statement during an outage fails within about a second plus
 * the connect timeout, and the pool reconnects within a second of the database coming back.
 */
function reconnectBackoffSeconds(attempt: number): number {
  return (0.5 + Math.random() / 2) * Math.min(3 ** attempt / 100, 1);
}

/** A Postgres ReadyForQuery message ('Z', length 5, transaction status) ends every answer to a statement. */
function endsWithReadyForQuery(chunk: Buffer): boolean {
  const at = chunk.length - 6;
  return at >= 0 && chunk[at] === 0x5a && chunk.readUInt32BE(at + 1) === 5;
}

interface Watched {
  socket: Socket;
  /** A statement was written and its answer has not ended yet. */
  awaiting: boolean;
  /** When the socket last wrote or received bytes (performance.now()). */
  lastActivity: number;
}

/**
 * Destroys, with ETIMEDOUT, a socket that has awaited an answer for `limitMs` without receiving a byte. One timer for
 * all the sockets it watches, running only while there are some: the hot path (every statement written, every chunk
 * read) only records the time, where a socket timeout per statement re-armed a timer twice per statement.
 */
class SilenceWatchdog {
  private readonly watched = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;
  private readonly periodMs: number;

  constructor(private readonly limitMs: number) {
    // Detection happens between limitMs and limitMs + periodMs of silence.
    this.periodMs = Math.max(25, Math.min(1000, Math.floor(limitMs / 10)));
  }

  watch(socket: Socket): void {
    const state: Watched = { socket, awaiting: false, lastActivity: performance.now() };
    this.watched.add(state);
    // Armed while a statement awaits its answer, disarmed when an answer ends with ReadyForQuery.
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    socket.write = ((...args: unknown[]) => {
      state.lastActivity = performance.now();
      state.awaiting = true;
      return write(...args);
    }) as Socket['write'];
    socket.on('data', (chunk: Buffer) => {
      state.lastActivity = performance.now();
      if (state.awaiting && endsWithReadyForQuery(chunk)) state.awaiting = false;
    });
    socket.once('close', () => {
      this.watched.delete(state);
      if (this.watched.size === 0) this.stop();
    });
    this.timer ??= setInterval(() => this.check(), this.periodMs).unref();
  }

  private check(): void {
    const now = performance.now();
    for (const { socket, awaiting, lastActivity } of this.watched) {
      if (awaiting && now - lastActivity >= this.limitMs) {
        socket.destroy(
          Object.assign(new Error(`no answer from the database within ${this.limitMs} ms`), { code: 'ETIMEDOUT' }),
        );
      }
    }
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * The socket postgres.js connects through (its documented `socket` option), with two fixes for a server that is gone:
 * - A server or proxy that accepts the TCP connection and closes it cleanly before answering would leave postgres.js
 *   reconnecting at once, forever, with the statement that opened the connection never settled
 *   (porsager/postgres#1193). Such a close becomes an ECONNRESET error, which fails the statement like a refused
 *   connection does.
 * - A connection that stops answering mid-statement (a network partition: no FIN, no RST) would wait for TCP to give
 *   up, minutes later. Once a statement has had no answer for `silenceLimitMs` (the statement timeout plus the connect
 *   timeout: the server would have answered or cancelled it by then), the socket is destroyed with ETIMEDOUT.
 * With TLS, postgres.js moves the connection onto a TLS socket after the SSLRequest and drops these listeners: the
 * first fix still applies (a close before the SSL answer), the second does not. It also collects the sockets into
 * `sockets`, so the pool's open connections can be counted: postgres.js does not expose them.
 */
function failFastSocket(options: { silenceLimitMs: number; sockets: Set<Socket> }) {
  const watchdog = options.silenceLimitMs > 0 ? new SilenceWatchdog(options.silenceLimitMs) : undefined;
  return (target: { host: string[]; port: number[]; path?: string | false }): Socket => {
    const host = target.host[0] ?? 'localhost';
    const port = target.port[0] ?? 5432;
    const socket = target.path ? connectTcp(target.path) : connectTcp({ host, port });
    Object.assign(socket, { host, port }); // postgres.js reads these for TLS and error messages
    for (const other of options.sockets) if (other.destroyed) options.sockets.delete(other);
    options.sockets.add(socket);
    socket.once('end', () => {
      if (socket.bytesRead === 0) {
        socket.destroy(
          Object.assign(new Error('the database closed the connection before answering'), { code: 'ECONNRESET' }),
        );
      }
    });
    watchdog?.watch(socket);
    return socket;
  };
}

/** Sockets connected and not yet closed (a TLS connection's raw socket is destroyed when the TLS socket closes). */
function openConnections(sockets: Set<Socket>): number {
  let open = 0;
  for (const socket of sockets) {
    if (socket.destroyed) sockets.delete(socket);
    else if (!socket.connecting) open++;
  }
  return open;
}

function createPostgresDatabase(config: DatabaseConfig, url: string): Database {
  const sockets = new Set<Socket>();
  const connectTimeoutMs = config.connectTimeoutSeconds * 1000;
  const silenceLimitMs = config.statementTimeoutMs > 0 ? config.statementTimeoutMs + connectTimeoutMs : 0;
  // `socket` is a documented postgres.js option missing from its type definitions, hence the casts below.
  const options = {
    idle_timeout: config.idleTimeoutSeconds,
    connect_timeout: config.connectTimeoutSeconds,
    backoff: reconnectBackoffSeconds,
    onnotice: () => {},
  };
  const client = postgres(url, {
    ...options,
    max: config.poolMax,
    socket: failFastSocket({ silenceLimitMs, sockets }),
    connection: {
      application_name: 'ledger-graphql',
      ...(config.statementTimeoutMs > 0 ? { statement_timeout: config.statementTimeoutMs } : {}),
    },
  } as postgres.Options<{}>);
  // Health checks run trivial statements: a second is plenty, and the probe fails fast if the server is stuck.
  const probeStatementTimeoutMs = 1_000;
  const probe = postgres(url, {
    ...options,
    max: 1,
    socket: failFastSocket({
      silenceLimitMs: probeStatementTimeoutMs + connectTimeoutMs,
      sockets: new Set(),
    }),
    connection: { application_name: 'ledger-graphql:health', statement_timeout: probeStatementTimeoutMs },
  } as postgres.Options<{}>);
  const usage = new PoolUsage();
  const tracked = trackPostgresPoolUsage(client, usage);
  const rows = async <T>(db: Db, query: ReturnType<typeof drizzleSql>) => (await db.execute(query)) as unknown as T[];
  return {
    kind: 'postgres',
    db: drizzlePostgres({ client: tracked }),
    reader: postgresReader(client, usage),
    forOperation: (stats) =>
      operationDb(postgresReader(client, usage, stats), () =>
        drizzlePostgres({ client: instrumentPostgres(tracked, stats) }),
      ),
    readerFor: (db) => drizzleReader(db, rows),
    rows,
    probeDb: drizzlePostgres({ client: probe }),
    poolStatus: () => poolStatus(config.poolMax, openConnections(sockets), usage),
    close: async () => {
      await Promise.all([client.end({ timeout: 5 }), probe.end({ timeout: 1 })]);
    },
    poolMax: config.poolMax,
  };
}

function operationDb(reader: Reader, createDb: () => Db): OperationDb {
  let db: Db | undefined;
  return {
    reader,
    get db() {
      return (db ??= createDb());
    },
  };
}

/**
 * Runs one statement counted into the pool's usage and, for an operation, its `SqlStats`: the same figures the
 * instrumented clients keep for drizzle's statements (instrument.ts), without their per-statement proxies, which
 * measured about a third of the driver's CPU on the hot path.
 */
async function counted<T>(usage: PoolUsage, stats: SqlStats | undefined, run: () => Promise<T>): Promise<T> {
  usage.statements++;
  if (stats) stats.statements++;
  const startedAt = performance.now();
  try {
    return await run();
  } finally {
    usage.statements--;
    stats?.record(startedAt);
  }
}

/**
 * Statements straight to postgres.js, prepared (one round trip each once a connection has prepared the text), never
 * pipelined (NOT_PIPELINED).
 */
function postgresReader(client: postgres.Sql, usage: PoolUsage, stats?: SqlStats): Reader {
  const options = { prepare: true, ...NOT_PIPELINED };
  return {
    rows<R>(statement: Statement<R>, values: StatementValues) {
      const parameters = statement.values(values) as postgres.ParameterOrJSON<never>[];
      return counted(usage, stats, async () =>
        statement.decode(await client.unsafe(statement.text, parameters, options)),
      );
    },
  };
}

function pgliteReader(client: PGlite, usage: PoolUsage, stats?: SqlStats): Reader {
  return {
    rows<R>(statement: Statement<R>, values: StatementValues) {
      const parameters = statement.values(values);
      return counted(usage, stats, async () =>
        statement.decode((await client.query<Record<string, unknown>>(statement.text, parameters)).rows),
      );
    },
  };
}

function drizzleReader(db: Db, rows: <T>(db: Db, query: ReturnType<typeof drizzleSql>) => Promise<T[]>): Reader {
  return {
    async rows<R>(statement: Statement<R>, values: StatementValues) {
      return statement.decode(await rows<Record<string, unknown>>(db, statement.bind(values)));
    },
  };
}

function poolStatus(max: number, open: number, usage: PoolUsage): PoolStatus {
  const busy = Math.min(open, usage.inFlight);
  return { max, open, busy, idle: open - busy, waiting: Math.max(0, usage.inFlight - open) };
}

async function createEmbeddedDatabase(config: DatabaseConfig): Promise<Database> {
  const dataDir = config.embeddedDataDir;
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const client = await PGlite.create(dataDir);
  const usage = new PoolUsage();
  const tracked = trackPGlitePoolUsage(client, usage);
  const db = drizzlePGlite({ client: tracked });
  const rows = async <T>(db: Db, query: ReturnType<typeof drizzleSql>) =>
    ((await db.execute(query)) as unknown as { rows: T[] }).rows;
  return {
    kind: 'embedded',
    db,
    reader: pgliteReader(client, usage),
    forOperation: (stats) =>
      operationDb(pgliteReader(client, usage, stats), () => drizzlePGlite({ client: instrumentPGlite(tracked, stats) })),
    readerFor: (db) => drizzleReader(db, rows),
    rows,
    // One in-process connection: a probe shares it (and cannot be cut off from it).
    probeDb: db,
    poolStatus: () => poolStatus(1, 1, usage),
    close: () => client.close(),
    poolMax: 1,
  };
}
