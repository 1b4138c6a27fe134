/**
 * The rate limiter the `@rateLimit` directive calls: Redis when configured, the in-process counter otherwise, and the
 * failure policy in between.
 *
 * Responsible for choosing a counter per call and for the failure policy:
 * - No REDIS_URL: the in-process counter (limits hold per instance only). Mode `in-process`.
 * - Redis answering: the Redis script (limits shared by every instance). Mode `redis`.
 * - Redis failing (error, timeout, not connected): the circuit breaker counts consecutive failures; while it is open
 *   Redis is not called at all (mode `degraded`) and a background PING decides when it is back. Meanwhile:
 *   fail open (default) counts in the in-process counter, so limits still hold per instance; fail closed refuses every
 *   limited call with RATE_LIMIT_UNAVAILABLE. Unlimited fields are never affected.
 * The ioredis client never queues commands while disconnected (`enableOfflineQueue: false`) and never retries a
 * command (`maxRetriesPerRequest: 0`); each call gives up after `redisCommandTimeoutMs` (see `withDeadline`), so a dead
 * Redis costs a request at most one command timeout until the breaker opens, and nothing after. The client reconnects
 * by itself, forever, with backoff; a probe that times out on an open connection forces a reconnect, since a peer
 * that vanished without a reset would otherwise hold a half-open socket for minutes.
 *
 * Not responsible for keys, identities or errors (directive.ts) nor for reading the environment (src/config).
 */
import { Redis } from 'ioredis';
import type { RateLimitConfig } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import { CircuitBreaker, type BreakerStatus } from './breaker.js';
import { InProcessSlidingWindow } from './local.js';
import type { RateLimitDecision, RateLimitPolicy } from './policy.js';
import { RedisSlidingWindow } from './redis.js';

/**
 * `redis`: counting in Redis, shared by every instance. `in-process`: no REDIS_URL, each instance counts alone.
 * `degraded`: Redis is configured but failing; fail open counts in-process, fail closed refuses limited calls.
 * `disabled`: RATE_LIMIT_ENABLED=false, nothing is limited.
 */
export type RateLimitMode = 'redis' | 'in-process' | 'degraded' | 'disabled';

export interface RateLimiterStatus {
  mode: RateLimitMode;
  /** True when limits are currently counted across every instance (Redis answering). */
  shared: boolean;
  failMode: RateLimitConfig['failMode'];
  /** null when REDIS_URL is unset or limits are disabled. `connection` is ioredis's status (ready, reconnecting…). */
  redis: { connection: string; breaker: BreakerStatus } | null;
  /** Keys held by the in-process counter (the limiter itself, or the fail-open fallback). */
  inProcessKeys: number;
}

/** Why a call was refused: over its limit, or (fail-closed mode) the shared counter could not be consulted. */
export type RefusalReason = Extract<RateLimitDecision, { allowed: false }>['reason'];
export type RefusalListener = (field: string, reason: RefusalReason) => void;

export interface RateLimiter {
  readonly enabled: boolean;
  /** Counts one call of `key` under `policy`; never rejects (failures turn into fallback or refusal decisions). */
  consume(key: string, policy: RateLimitPolicy): Promise<RateLimitDecision>;
  status(): RateLimiterStatus;
  /** Redis round trip in ms, bypassing the breaker (for health checks); rejects when Redis does not answer. Absent
   * without Redis. */
  ping?(): Promise<number>;
  /** Calls `listener` for every refused call of a `@rateLimit` field (`Type.field`), e.g. to count it in metrics. */
  onRefused(listener: RefusalListener): void;
  /** Reports a refusal to the listeners (the directive calls it). A throwing listener is ignored. */
  reportRefusal(field: string, reason: RefusalReason): void;
  close(): Promise<void>;
}

function refusalListeners(): Pick<RateLimiter, 'onRefused' | 'reportRefusal'> {
  const listeners: RefusalListener[] = [];
  return {
    onRefused: (listener) => void listeners.push(listener),
    reportRefusal(field, reason) {
      for (const listener of listeners) {
        try {
          listener(field, reason);
        } catch {
          // Observers must not fail the request.
        }
      }
    },
  };
}

export interface RateLimiterOptions {
  config: RateLimitConfig;
  redisUrl: string | undefined;
  logger: Logger;
  /** The in-process counter's sweep interval (tests shorten it). */
  sweepIntervalMs?: number;
}

/** Builds the limiter; with Redis, waits up to the connect timeout for it and starts degraded when it does not come. */
export async function createRateLimiter(options: RateLimiterOptions): Promise<RateLimiter> {
  const { config, redisUrl, logger } = options;
  if (!config.enabled) return disabledLimiter(config);

  const local = new InProcessSlidingWindow({
    maxKeys: config.inProcessMaxKeys,
    ...(options.sweepIntervalMs !== undefined && { sweepIntervalMs: options.sweepIntervalMs }),
  });
  if (redisUrl === undefined) {
    return {
      enabled: true,
      ...refusalListeners(),
      consume: async (key, policy) => local.hit(key, policy),
      status: () => ({
        mode: 'in-process',
        shared: false,
        failMode: config.failMode,
        redis: null,
        inProcessKeys: local.size,
      }),
      close: async () => local.close(),
    };
  }

  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: config.redisConnectTimeoutMs,
    // Reconnect forever, backing off to 2 s; while disconnected, commands fail at once instead of waiting.
    retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
    connectionName: 'ledger-graphql:rate-limit',
  });
  redis.on('error', (error: Error) => logger.debug({ err: error }, 'rate limit: Redis connection error'));
  const counter = new RedisSlidingWindow(redis, config.keyPrefix);
  const breaker = new CircuitBreaker({
    failureThreshold: config.breakerFailureThreshold,
    cooldownMs: config.breakerCooldownMs,
    probe: () =>
      withDeadline(redis.ping(), config.redisCommandTimeoutMs).catch((error: unknown) => {
        if (error instanceof RedisDeadlineError && redis.status === 'ready') redis.disconnect(true);
        throw error;
      }),
    onOpen: (error) =>
      logger.warn(
        { err: error, failMode: config.failMode },
        config.failMode === 'open'
          ? 'rate limit: Redis is failing; counting in-process (per instance) until it answers again'
          : 'rate limit: Redis is failing; refusing rate-limited fields (fail mode closed) until it answers again',
      ),
    onClose: () => logger.info('rate limit: Redis answers again; limits are shared across instances'),
  });

  try {
    // connect() waits for the ready check, which a Redis that accepts connections but never answers would hold forever.
    await withDeadline(redis.connect(), config.redisConnectTimeoutMs);
  } catch (error) {
    // ioredis keeps reconnecting in the background; the breaker's probe notices when it succeeds.
    breaker.trip(error);
  }

  return {
    enabled: true,
    ...refusalListeners(),
    async ping() {
      const started = performance.now();
      await withDeadline(redis.ping(), config.redisCommandTimeoutMs);
      return performance.now() - started;
    },
    async consume(key, policy) {
      if (breaker.allowsCalls) {
        try {
          const decision = await withDeadline(counter.hit(key, policy), config.redisCommandTimeoutMs);
          breaker.recordSuccess();
          return decision;
        } catch (error) {
          breaker.recordFailure(error);
        }
      }
      if (config.failMode === 'closed') {
        return { allowed: false, reason: 'unavailable', retryAfterMs: Math.max(1_000, breaker.msUntilProbe) };
      }
      return local.hit(key, policy);
    },
    status() {
      const breakerStatus = breaker.status();
      // A closed breaker below its failure threshold is not enough: while ioredis reconnects, every call falls back.
      const healthy = breakerStatus.state === 'closed' && redis.status === 'ready';
      return {
        mode: healthy ? 'redis' : 'degraded',
        shared: healthy,
        failMode: config.failMode,
        redis: { connection: redis.status, breaker: breakerStatus },
        inProcessKeys: local.size,
      };
    },
    async close() {
      breaker.stop();
      local.close();
      redis.disconnect();
    },
  };
}

class RedisDeadlineError extends Error {
  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms`);
    this.name = 'RedisDeadlineError';
  }
}

/**
 * Rejects with RedisDeadlineError when `promise` has not settled `ms` after the call. The check runs once more after
 * the I/O already waiting has been processed (setImmediate after the timer), so a stalled event loop (a GC pause, a
 * CPU-heavy request) cannot time out a reply that arrived in time, as ioredis's own `commandTimeout` does: that would
 * count a healthy Redis as failing and, after a few, open the breaker.
 */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (settled) return;
          settled = true;
          reject(new RedisDeadlineError(ms));
        }),
      ms,
    );
    promise.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function disabledLimiter(config: RateLimitConfig): RateLimiter {
  return {
    enabled: false,
    ...refusalListeners(),
    consume: async (_key, policy) => ({ allowed: true, remaining: policy.max }),
    status: () => ({ mode: 'disabled', shared: false, failMode: config.failMode, redis: null, inProcessKeys: 0 }),
    close: async () => {},
  };
}

/** Says at startup how limits are enforced, loudly when they are off or not shared: a wrong setting is invisible. */
export function logRateLimitMode(limiter: RateLimiter, logger: Logger): void {
  const status = limiter.status();
  const fields = { rateLimit: { mode: status.mode, failMode: status.failMode } };
  switch (status.mode) {
    case 'disabled':
      logger.warn(fields, 'RATE LIMITING IS DISABLED (RATE_LIMIT_ENABLED=false): no @rateLimit limit is enforced');
      break;
    case 'in-process':
      logger.warn(
        fields,
        'rate limiting is in-process: REDIS_URL is unset, so each instance counts on its own and limits are not shared',
      );
      break;
    case 'degraded':
      logger.warn(
        { ...fields, reason: status.redis?.breaker.lastError },
        `rate limiting: Redis is unreachable at startup; ${
          status.failMode === 'open' ? 'counting in-process' : 'refusing rate-limited fields'
        } until it answers`,
      );
      break;
    case 'redis':
      logger.info(fields, 'rate limiting backed by Redis: limits are shared across instances');
      break;
  }
}
