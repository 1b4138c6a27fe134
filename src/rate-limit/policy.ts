/**
 * Rate-limit policies: what one `@rateLimit(max, window)` allows, and the decision a counter returns for one call.
 *
 * Responsible for parsing and bounding `max` and `window` ("10s", "1m", "1h") with messages that name the offending
 * value. Not responsible for counting (local.ts, redis.ts) nor for where policies come from (directive.ts).
 */

/** At most `max` calls in any interval of `windowMs` milliseconds. */
export interface RateLimitPolicy {
  max: number;
  windowMs: number;
  /** The window as written in the SDL ("1m"), reported to clients in `extensions.window`. */
  window: string;
}

/** One call's outcome. `retryAfterMs` says when the oldest counted call leaves the window (0 when allowed). */
export type RateLimitDecision =
  | { allowed: true; remaining: number }
  | { allowed: false; reason: 'limited'; retryAfterMs: number }
  /** Fail-closed mode only: the shared counter could not be consulted, so the call is refused. */
  | { allowed: false; reason: 'unavailable'; retryAfterMs: number };

/** Counts calls per key in a sliding window: no more than `policy.max` calls pass in any interval of the window. */
export interface SlidingWindowCounter {
  hit(key: string, policy: RateLimitPolicy): Promise<RateLimitDecision> | RateLimitDecision;
}

export const MAX_LIMIT = 100_000;
export const MIN_WINDOW_MS = 1_000;
export const MAX_WINDOW_MS = 7 * 24 * 60 * 60 * 1000;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  sec: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** "10s" → 10000. Returns undefined for anything that is not a positive whole number followed by a known unit. */
export function parseWindow(window: string): number | undefined {
  const match = /^\s*(\d{1,9})\s*([a-z]+)\s*$/i.exec(window);
  if (!match) return undefined;
  const unit = UNIT_MS[match[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  return Number(match[1]) * unit;
}

/**
 * Checks `max` and `window` and returns the policy, or the problems found (each names the value at fault), e.g.
 * `window "10 parsecs" is not a duration like "10s", "1m" or "1h"`.
 */
export function toPolicy(max: unknown, window: unknown): RateLimitPolicy | { problems: string[] } {
  const problems: string[] = [];
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_LIMIT) {
    problems.push(`max must be an integer from 1 to ${MAX_LIMIT} (got ${JSON.stringify(max)})`);
  }
  let windowMs: number | undefined;
  if (typeof window !== 'string') {
    problems.push(`window must be a string like "10s", "1m" or "1h" (got ${JSON.stringify(window)})`);
  } else {
    windowMs = parseWindow(window);
    if (windowMs === undefined) {
      problems.push(
        `window ${JSON.stringify(window)} is not a duration like "10s", "1m" or "1h" (units: ms, s, m, h, d)`,
      );
    } else if (windowMs < MIN_WINDOW_MS || windowMs > MAX_WINDOW_MS) {
      problems.push(`window ${JSON.stringify(window)} must be from 1s to 7d`);
    }
  }
  if (problems.length > 0) return { problems };
  return { max: max as number, windowMs: windowMs!, window: (window as string).trim() };
}
