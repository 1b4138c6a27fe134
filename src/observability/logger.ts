/**
 * Observability: structured JSON logs (pino). Every request gets a child logger carrying its request id, so a
 * client-visible request id finds every line the request logged.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { service: 'ledger-graphql', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Never log credentials, even by accident.
    redact: { paths: ['req.headers.authorization', '*.authorization', '*.token'], censor: '[redacted]' },
  });
}
