/**
 * Observability: structured JSON logs (pino). Every request gets a child logger carrying its request id, so a
 * client-visible request id finds every line the request logged.
 */
import { destination, pino, type Logger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino(
    {
      level,
      base: { service: 'ledger-graphql', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Never log credentials, even by accident.
      redact: { paths: ['req.headers.authorization', '*.authorization', '*.token'], censor: '[redacted]' },
    },
    // Asynchronous writes: lines written while a write is in flight are batched, and a log line never blocks the
    // event loop on a slow stdout. pino flushes what is pending synchronously when the process exits.
    destination({ dest: 1, sync: false }),
  );
}
