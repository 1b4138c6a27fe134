/**
 * The per-operation context every resolver receives: who is asking, the operation's counted database handle and its
 * loaders. Built fresh for each request by the HTTP layer.
 */
import { accessFor, type Access } from '../auth/access.js';
import type { Principal } from '../auth/principal.js';
import type { IdempotencyConfig } from '../config/index.js';
import type { Database, Db } from '../db/client.js';
import type { SqlStats } from '../db/instrument.js';
import type { Reader } from '../db/statements.js';
import { createIdempotencyState, type IdempotencyState } from '../idempotency/index.js';
import type { Logger } from '../observability/logger.js';
import { Loaders, type BatchObserver } from './loaders.js';

export interface GraphQLContext {
  requestId: string;
  principal: Principal;
  /** What the principal may see: loaders and list queries filter by it. */
  access: Access;
  /** This operation's prepared read statements; every statement is counted into `sqlStats`. */
  reader: Reader;
  /** This operation's drizzle handle (writes, transactions), counted the same way. */
  readonly db: Db;
  database: Database;
  loaders: Loaders;
  sqlStats: SqlStats;
  log: Logger;
  /** Names of the operations executed with this context (several in a batched request). */
  operationNames: string[];
  idempotency: IdempotencyState;
  idempotencyConfig: IdempotencyConfig;
}

export function createContext(options: {
  requestId: string;
  principal: Principal;
  database: Database;
  sqlStats: SqlStats;
  log: Logger;
  idempotencyConfig: IdempotencyConfig;
  /** The `Idempotency-Key` request header, if sent. */
  idempotencyKeyHeader: string | undefined;
  /** Told the size of every loader batch (metrics). */
  observeBatch?: BatchObserver;
}): GraphQLContext {
  const operation = options.database.forOperation(options.sqlStats);
  const access = accessFor(options.principal);
  return {
    requestId: options.requestId,
    principal: options.principal,
    access,
    reader: operation.reader,
    get db() {
      return operation.db;
    },
    database: options.database,
    loaders: new Loaders(operation.reader, access, options.observeBatch),
    sqlStats: options.sqlStats,
    log: options.log,
    operationNames: [],
    idempotency: createIdempotencyState(options.idempotencyKeyHeader),
    idempotencyConfig: options.idempotencyConfig,
  };
}
