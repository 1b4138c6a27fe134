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

type Destination = ReturnType<typeof destination>;

/** Loggers' streams, flushed when the process exits (pino only does so for asynchronous streams). */
const streams = new Set<Destination>();

function flushAtExit(stream: Destination): void {
  if (streams.size === 0) {
    process.once('exit', () => {
      for (const pending of streams) {
        try {
          pending.flushSync();
        } catch {
          // Nothing more can be done with a stream that fails now.
        }
      }
    });
  }
  streams.add(stream);
}

export function createLogger(level: LogLevel): Logger {
  // Buffered writes: under load one write carries a dozen lines instead of one each (a write per request line
  // measured at several percent of the server's CPU), and a line waits at most FLUSH_INTERVAL_MS when traffic is
  // light. Writes are synchronous, as pino's default: with asynchronous ones, the lines flushed at exit were written
  // while an earlier batch was still in flight on the thread pool, out of order or lost with the process (seen in
  // test/logger.test.ts). A slow stdout can hold the event loop for one write per BUFFER_BYTES.
  const stream = destination({ dest: 1, sync: true, minLength: BUFFER_BYTES });
  flushAtExit(stream);
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
      // Destroyed: nothing left to write to.
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
