/**
 * Classifies database failures that mean "the database cannot answer right now" (as opposed to a bug or bad data),
 * so callers can report SERVICE_UNAVAILABLE and clients know a retry may succeed.
 */
import { sqlState } from './batch.js';

const UNAVAILABLE_DRIVER_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

export function isDatabaseUnavailable(error: unknown): boolean {
  const state = sqlState(error);
  // 08: connection exception; 57P0x: server shutting down; 53300: too many connections; 57014: statement timeout.
  if (state && (state.startsWith('08') || state.startsWith('57P0') || state === '53300' || state === '57014')) {
    return true;
  }
  for (let current = error as { code?: unknown; cause?: unknown } | undefined; current; ) {
    if (typeof current.code === 'string' && UNAVAILABLE_DRIVER_CODES.has(current.code)) return true;
    current = current.cause as typeof current;
  }
  return false;
}
