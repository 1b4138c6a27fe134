/**
 * Observability: structured JSON logs (pino). Every request gets a child logger carrying its request id, so a
 * client-visible request id finds every line the request logged.
 */
import { destination, pino, type Logger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type { Logger };

/** Lines are written once this many bytes are pending, or at the latest after FLUSH_INTERVAL_MS. */
const BUFFER_BYTES = 4096;
const FLUSH_INTERVAL_MS = 100;

export function createLogger(level: LogLevel): Logger {
  // Asynchronous, buffered writes: under load a write carries a dozen lines instead of one each (one write per request
  // line measured at several percent of the server's CPU), a line waits at most FLUSH_INTERVAL_MS when traffic is
  // light, and a log line never blocks the event loop on a slow stdout. pino flushes what is pending synchronously
  // when the process exits.
  const stream = destination({ dest: 1, sync: false, minLength: BUFFER_BYTES });
  let pending = false;
  const write = stream.write.bind(stream);
  stream.write = (line: string) => {
    pending = true;
    return write(line);
  };
  setInterval(() => {
    if (!pending) return;
    pending = false;
    try {
      stream.flush();
    } catch {
      // Destroyed at exit: pino has flushed synchronously already.
    }
  }, FLUSH_INTERVAL_MS).unref();
  return pino(
    {
      level,
      base: { service: 'ledger-graphql', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Never log credentials, even by accident.
      redact: { paths: ['req.headers.authorization', '*.authorization', '*.token'], censor: '[redacted]' },
    },
    stream,
  );
}
