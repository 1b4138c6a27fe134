/**
 * The Redis sliding-window counter: one Lua script per limited call, shared by every instance using the same Redis.
 *
 * Responsible for the script and for calling it. Each key is a sorted set of the calls counted in its window, scored
 * by Redis server time in milliseconds (`TIME`, so instances with skewed clocks share one window), with a unique
 * member per call (instance id + counter, so calls in the same millisecond are all counted). The script prunes the
 * calls that left the window, counts the rest, and adds the call only if fewer than `max` remain, all atomically, so
 * 2×max simultaneous calls let exactly max through and rejected calls take no capacity. Keys expire by themselves one
 * window after their newest call. Not responsible for timeouts, retries or failure handling (the ioredis client's
 * options and the circuit breaker in limiter.ts decide those).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RateLimitDecision, RateLimitPolicy, SlidingWindowCounter } from './policy.js';

/**
 * KEYS[1]: the window's key. ARGV: window in ms, max, this call's unique member.
 * Returns { 1, remaining, 0 } when counted, { 0, 0, ms until the oldest call leaves the window } when rejected.
 * A call at t still counts at t + window (closed interval), so it is pruned once its score is below now - window.
 */
export const SLIDING_WINDOW_SCRIPT = `
local key = KEYS[1]
local windowMs = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%d', now - windowMs))
local counted = redis.call('ZCARD', key)
if counted < max then
  redis.call('ZADD', key, string.format('%d', now), ARGV[3])
  redis.call('PEXPIRE', key, windowMs + 1)
  return { 1, max - counted - 1, 0 }
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return { 0, 0, tonumber(oldest[2]) + windowMs + 1 - now }
`;

const COMMAND = 'ledgerRateLimitHit';

type ScriptReply = [allowed: number, remaining: number, retryAfterMs: number];
interface RedisWithScript {
  [COMMAND](key: string, windowMs: number, max: number, member: string): Promise<ScriptReply>;
}

export class RedisSlidingWindow implements SlidingWindowCounter {
  /** Distinguishes this process's members from other instances'. */
  private readonly instanceId = randomBytes(8).toString('hex');
  private sequence = 0;

  constructor(
    private readonly redis: Redis,
    /** Namespace of every key, e.g. "ledger:rl:" (lets deployments, or tests, share a Redis without sharing limits). */
    private readonly keyPrefix: string,
  ) {
    // defineCommand sends EVALSHA and falls back to EVAL once when Redis does not know the script yet.
    if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: SLIDING_WINDOW_SCRIPT });
  }

  async hit(key: string, policy: RateLimitPolicy): Promise<RateLimitDecision> {
    const member = `${this.instanceId}:${(this.sequence++).toString(36)}`;
    const [allowed, remaining, retryAfterMs] = await (this.redis as unknown as RedisWithScript)[COMMAND](
      this.keyPrefix + key,
      policy.windowMs,
      policy.max,
      member,
    );
    return allowed === 1
      ? { allowed: true, remaining }
      : { allowed: false, reason: 'limited', retryAfterMs: Math.max(1, retryAfterMs) };
  }
}
