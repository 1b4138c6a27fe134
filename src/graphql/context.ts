/**
 * The per-operation context every resolver receives: who is asking, the operation's counted database handle and its
 * loaders. Built fresh for each request by the HTTP layer.
 */
import type { Principal } from '../auth/principal.js';
import type { Database, Db } from '../db/client.js';
import type { SqlStats } from '../db/instrument.js';
import type { Logger } from '../observability/logger.js';
import { createLoaders, type Loaders } from './loaders.js';

export interface GraphQLContext {
  requestId: string;
  principal: Principal;
  /** This operation's database handle: every statement is counted into `sqlStats`. */
  db: Db;
  database: Database;
  loaders: Loaders;
  sqlStats: SqlStats;
  log: Logger;
  /** Names of the operations executed with this context (several in a batched request). */
  operationNames: string[];
}

export function createContext(options: {
  requestId: string;
  principal: Principal;
  database: Database;
  sqlStats: SqlStats;
  log: Logger;
}): GraphQLContext {
  const db = options.database.forOperation(options.sqlStats);
  return { ...options, db, loaders: createLoaders(db), operationNames: [] };
}
