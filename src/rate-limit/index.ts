/**
 * Rate limiting: the `@rateLimit` directive, its Redis-backed sliding-window limiter and the Retry-After header.
 *
 * Responsible for limiting calls of annotated fields per principal (user, else client IP), exactly under concurrency
 * and across instances sharing Redis, and for degrading gracefully when Redis fails. Not responsible for reading the
 * environment (src/config), for finding the client IP (the HTTP layer, with TRUST_PROXY), for query cost or size
 * limits (src/query-limits), nor for health endpoints: they read `RateLimiter.status()`.
 *
 * Pieces: policy.ts (max and window), local.ts and redis.ts (the two counters), breaker.ts (Redis circuit breaker),
 * limiter.ts (choosing a counter, fail open or closed, status), directive.ts (schema transform, keys, errors),
 * plugin.ts (Retry-After).
 */
export { CircuitBreaker, type BreakerState, type BreakerStatus } from './breaker.js';
export {
  applyRateLimitDirective,
  parseFieldRateLimit,
  principalIdentity,
  rateLimitKey,
  rateLimitResolver,
  RATE_LIMIT_DIRECTIVE,
  RateLimitDirectiveError,
  RateLimitErrorCode,
  type FieldRateLimit,
} from './directive.js';
export {
  createRateLimiter,
  logRateLimitMode,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimiterStatus,
  type RateLimitMode,
  type RefusalListener,
  type RefusalReason,
} from './limiter.js';
export { InProcessSlidingWindow, type InProcessCounterOptions } from './local.js';
export { createRetryAfterPlugin } from './plugin.js';
export {
  parseWindow,
  toPolicy,
  type RateLimitDecision,
  type RateLimitPolicy,
  type SlidingWindowCounter,
} from './policy.js';
export { RedisSlidingWindow, SLIDING_WINDOW_SCRIPT } from './redis.js';
