/**
 * The Redis sliding-window counter and the limiter's failure handling, against a real Redis: exact under concurrency
 * across several connections, the sliding boundary in real time, retry hints from the oldest call, keys that expire
 * by themselves; and with Redis cut (connections reset) or stalled (no answer) through a proxy: fail open to the
 * in-process counter within a few ms, fail closed with RATE_LIMIT_UNAVAILABLE, and recovery without traffic.
 */
import { makeExecutableSchema } from '@graphql-tools/schema';
import { graphql } from 'graphql';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Principal } from '../src/auth/principal.js';
import { loadConfig, type RateLimitConfig } from '../src/config/index.js';
import { loadTypeDefs } from '../src/graphql/schema.js';
import { createLogger } from '../src/observability/logger.js';
import {
  applyRateLimitDirective,
  createRateLimiter,
  RedisSlidingWindow,
  type RateLimitDecision,
  type RateLimiter,
  type RateLimitPolicy,
} from '../src/rate-limit/index.js';
import {
  describeWithRedis,
  inspectRedis,
  redisTarget,
  redisUrl,
  redisUrlVia,
  uniqueKeyPrefix,
} from './support/redis.js';
import { slidingBoundaryScenario } from './support/redis-scenarios.js';
import { startTcpProxy } from './support/tcp-proxy.js';

const logger = createLogger('silent');
const minute = (max: number): RateLimitPolicy => ({ max, windowMs: 60_000, window: '1m' });
const allowedCount = (decisions: RateLimitDecision[]) => decisions.filter((d) => d.allowed).length;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function limiterConfig(overrides: Partial<RateLimitConfig> = {}): RateLimitConfig {
  return {
    ...loadConfig({}).rateLimit,
    keyPrefix: uniqueKeyPrefix(),
    breakerFailureThreshold: 3,
    breakerCooldownMs: 200,
    ...overrides,
  };
}

/** Runs `task` and returns how long it took in ms. */
async function timed<T>(task: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await task();
  return [result, performance.now() - started];
}

describeWithRedis('the Redis counter', () => {
  const clients: Redis[] = [];
  let inspector: Redis;
  beforeAll(() => {
    inspector = inspectRedis();
  });
  afterAll(() => {
    for (const client of [...clients, inspector]) client.disconnect();
  });

  function counters(count: number, prefix: string): RedisSlidingWindow[] {
    return Array.from({ length: count }, () => {
      const client = new Redis(redisUrl);
      clients.push(client);
      return new RedisSlidingWindow(client, prefix);
    });
  }

  it('lets exactly max of 2×max simultaneous calls through, over four connections, and counts no rejected call', async () => {
    const prefix = uniqueKeyPrefix();
    const instances = counters(4, prefix);
    const decisions = await Promise.all(
      Array.from({ length: 200 }, (_, i) => instances[i % instances.length]!.hit('k', minute(100))),
    );
    expect(allowedCount(decisions)).toBe(100);
    // Every counted call has its own member, even in the same millisecond; rejected calls added nothing.
    expect(await inspector.zcard(`${prefix}k`)).toBe(100);
    const remaining = decisions.flatMap((d) => (d.allowed ? [d.remaining] : [])).sort((a, b) => a - b);
    expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('counts two principals and two identityArgs values separately, through the directive', async () => {
    const limiter = await createRateLimiter({ config: limiterConfig(), redisUrl, logger });
    try {
      const schema = applyRateLimitDirective(
        makeExecutableSchema({
          typeDefs: [
            loadTypeDefs().find((sdl) => sdl.includes('directive @rateLimit'))!,
            `input PayInput { orderId: ID!, amountCents: Int! }
             extend type Query { x: Int }
             extend type Mutation {
               pay(input: PayInput!): Int @rateLimit(max: 1, window: "1m", identityArgs: ["input.orderId"])
             }`,
          ],
          resolvers: { Mutation: { pay: () => 1 } },
        }),
        limiter,
      );
      const codes = async (orderId: string, principal: Principal) => {
        const source = `mutation { pay(input: { orderId: "${orderId}", amountCents: 5 }) }`;
        const result = await graphql({ schema, source, contextValue: { principal } });
        return result.errors?.map((error) => error.extensions.code) ?? [];
      };
      const alice: Principal = { kind: 'user', userId: 1, role: 'customer', tokenId: 1, ip: '192.0.2.9' };
      const bob: Principal = { kind: 'user', userId: 2, role: 'customer', tokenId: 2, ip: '192.0.2.9' };
      expect(await codes('1', alice)).toEqual([]);
      expect(await codes('1', alice)).toEqual(['RATE_LIMITED']);
      expect(await codes('2', alice)).toEqual([]); // another identityArgs value
      expect(await codes('1', bob)).toEqual([]); // another principal, same IP
      expect(await codes('1', { kind: 'anonymous', ip: '192.0.2.9' })).toEqual([]);
      expect(await codes('1', { kind: 'anonymous', ip: '192.0.2.9' })).toEqual(['RATE_LIMITED']);
    } finally {
      await limiter.close();
    }
  });

  it('holds the sliding boundary in real time with a "2s" window', async () => {
    const [counter] = counters(1, uniqueKeyPrefix());
    await slidingBoundaryScenario((key, policy) => counter!.hit(key, policy));
  });

  it('never lets more than max through in any interval of the window, under a steady stream', async () => {
    const [counter] = counters(1, uniqueKeyPrefix());
    const policy: RateLimitPolicy = { max: 3, windowMs: 1000, window: '1s' };
    const passed: Array<{ sent: number; received: number }> = [];
    const end = Date.now() + 2300;
    while (Date.now() < end) {
      const sent = Date.now();
      if ((await counter!.hit('stream', policy)).allowed) passed.push({ sent, received: Date.now() });
      await sleep(20);
    }
    for (let i = 0; i + policy.max < passed.length; i++) {
      // Redis stamped each call between its send and receive times: max+1 passes span more than the window.
      expect(passed[i + policy.max]!.received - passed[i]!.sent).toBeGreaterThan(1000);
    }
    expect(passed.length).toBeGreaterThanOrEqual(6);
  });

  it('computes the retry hint from the oldest call in the window, and lets the key expire by itself', async () => {
    const prefix = uniqueKeyPrefix();
    const [counter] = counters(1, prefix);
    const policy: RateLimitPolicy = { max: 2, windowMs: 10_000, window: '10s' };
    expect((await counter!.hit('k', policy)).allowed).toBe(true);
    await sleep(300);
    expect((await counter!.hit('k', policy)).allowed).toBe(true);
    const refused = await counter!.hit('k', policy);
    expect(refused.allowed).toBe(false);
    expect(refused.allowed === false && refused.retryAfterMs).toBeGreaterThan(9_500);
    expect(refused.allowed === false && refused.retryAfterMs).toBeLessThanOrEqual(9_701);
    const ttl = await inspector.pttl(`${prefix}k`);
    expect(ttl).toBeGreaterThan(9_000);
    expect(ttl).toBeLessThanOrEqual(10_001);
  });
});

describeWithRedis('when Redis fails', () => {
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  async function limiterThrough(address: { host: string; port: number }, overrides: Partial<RateLimitConfig> = {}) {
    const limiter = await createRateLimiter({ config: limiterConfig(overrides), redisUrl: redisUrlVia(address), logger });
    cleanup.push(() => limiter.close());
    return limiter;
  }

  /** On a loaded machine the connect deadline can pass and the limiter start degraded; these tests start healthy. */
  async function untilShared(limiter: RateLimiter) {
    await expect.poll(() => limiter.status().mode, { timeout: 15_000, interval: 50 }).toBe('redis');
  }

  const burst = (limiter: RateLimiter, count: number, key = 'k', max = 10) =>
    Promise.all(Array.from({ length: count }, () => limiter.consume(key, minute(max))));

  it('does not take a reply delayed only by a stalled event loop for a Redis failure (ioredis commandTimeout did)', async () => {
    const limiter = await createRateLimiter({ config: limiterConfig(), redisUrl, logger });
    cleanup.push(() => limiter.close());
    await untilShared(limiter);
    for (let i = 0; i < 5; i++) {
      const pending = limiter.consume('k', minute(100));
      const until = Date.now() + 250; // a GC pause or a CPU-heavy request, longer than the 150 ms timeout
      while (Date.now() < until);
      expect(await pending).toEqual({ allowed: true, remaining: 99 - i });
    }
    expect(limiter.status()).toMatchObject({
      mode: 'redis',
      redis: { breaker: { state: 'closed', consecutiveFailures: 0, lastError: null } },
    });
  });

  it('fails open to the in-process counter within a few ms, and is enforced in Redis again after it returns', async () => {
    const proxy = await startTcpProxy(redisTarget);
    cleanup.push(() => proxy.close());
    const limiter = await limiterThrough(proxy);
    await untilShared(limiter);
    expect(limiter.status()).toMatchObject({ mode: 'redis', shared: true, redis: { connection: 'ready' } });

    expect(allowedCount(await burst(limiter, 4))).toBe(4); // 4 of 10 used, in Redis

    proxy.cut();
    const latencies: number[] = [];
    const decisions: RateLimitDecision[] = [];
    for (let i = 0; i < 12; i++) {
      const [decision, ms] = await timed(() => limiter.consume('k', minute(10)));
      decisions.push(decision);
      latencies.push(ms);
    }
    // Still limited: the in-process counter starts afresh and allows max, per instance.
    expect(allowedCount(decisions)).toBe(10);
    expect(decisions.at(-1)).toMatchObject({ allowed: false, reason: 'limited' });
    expect(Math.max(...latencies)).toBeLessThan(50);
    expect(limiter.status()).toMatchObject({ mode: 'degraded', shared: false, redis: { breaker: { state: 'open' } } });

    proxy.restore();
    // No traffic needed: the breaker's background probe notices Redis is back.
    await expect.poll(() => limiter.status().mode, { timeout: 10_000, interval: 50 }).toBe('redis');
    // Redis still holds the 4 calls from before the cut: 6 more pass (the in-process counter would allow none).
    expect(allowedCount(await burst(limiter, 10))).toBe(6);
  });

  it('gives up on a stalled Redis after the command timeout, then skips it until it answers again', async () => {
    const proxy = await startTcpProxy(redisTarget);
    cleanup.push(() => proxy.close());
    const limiter = await limiterThrough(proxy, { redisCommandTimeoutMs: 100, breakerFailureThreshold: 3 });
    await untilShared(limiter);
    expect((await limiter.consume('k', minute(10))).allowed).toBe(true);

    proxy.stall();
    const latencies: number[] = [];
    for (let i = 0; i < 8; i++) {
      const [decision, ms] = await timed(() => limiter.consume('k', minute(10)));
      expect(decision.allowed).toBe(true); // fail open
      latencies.push(ms);
    }
    // The first three wait out the command timeout; once the breaker is open, Redis is not even asked.
    for (const ms of latencies.slice(0, 3)) expect(ms).toBeGreaterThanOrEqual(90);
    for (const ms of latencies.slice(0, 3)) expect(ms).toBeLessThan(400);
    for (const ms of latencies.slice(3)) expect(ms).toBeLessThan(10);
    expect(limiter.status().mode).toBe('degraded');

    proxy.resume();
    await expect.poll(() => limiter.status().mode, { timeout: 10_000, interval: 50 }).toBe('redis');
  });

  it('fails closed when configured: limited calls are refused with a retry hint, and pass again after recovery', async () => {
    const proxy = await startTcpProxy(redisTarget);
    cleanup.push(() => proxy.close());
    const limiter = await limiterThrough(proxy, { failMode: 'closed', breakerCooldownMs: 1_500 });
    await untilShared(limiter);
    expect((await limiter.consume('k', minute(10))).allowed).toBe(true);
    expect(await limiter.ping!()).toBeLessThan(100);

    proxy.cut();
    const refused = await burst(limiter, 5);
    expect(refused.every((d) => !d.allowed && d.reason === 'unavailable')).toBe(true);
    const hint = refused.at(-1) as Extract<RateLimitDecision, { allowed: false }>;
    expect(hint.retryAfterMs).toBeGreaterThanOrEqual(1_000);
    expect(hint.retryAfterMs).toBeLessThanOrEqual(1_500);
    await expect(limiter.ping!()).rejects.toThrow(); // for health checks: Redis is down

    proxy.restore();
    await expect.poll(() => limiter.status().mode, { timeout: 10_000, interval: 50 }).toBe('redis');
    expect(allowedCount(await burst(limiter, 3))).toBe(3);
  });

  it('does not hang at startup on a Redis that accepts connections but never answers', async () => {
    const proxy = await startTcpProxy(redisTarget);
    cleanup.push(() => proxy.close());
    proxy.stall();
    const [limiter, ms] = await timed(() => limiterThrough(proxy, { redisConnectTimeoutMs: 300 }));
    expect(ms).toBeLessThan(1_000);
    expect(limiter.status().mode).toBe('degraded');
    expect((await limiter.consume('k', minute(1))).allowed).toBe(true);
    proxy.resume();
    await expect.poll(() => limiter.status().mode, { timeout: 10_000, interval: 50 }).toBe('redis');
  });

  it('starts degraded, without waiting long, when Redis is down at startup, and recovers by itself', async () => {
    const proxy = await startTcpProxy(redisTarget);
    cleanup.push(() => proxy.close());
    proxy.cut();
    const [limiter, ms] = await timed(() => limiterThrough(proxy));
    expect(ms).toBeLessThan(1_500);
    expect(limiter.status()).toMatchObject({ mode: 'degraded', redis: { breaker: { state: 'open' } } });
    const [decision, consumeMs] = await timed(() => limiter.consume('k', minute(1)));
    expect(decision.allowed).toBe(true);
    expect(consumeMs).toBeLessThan(10);

    proxy.restore();
    await expect.poll(() => limiter.status().mode, { timeout: 10_000, interval: 50 }).toBe('redis');
    expect(allowedCount(await burst(limiter, 2, 'k', 1))).toBe(1);
  });
});

it('uses the in-process counter, reported as such, when REDIS_URL is unset', async () => {
  const limiter = await createRateLimiter({ config: limiterConfig(), redisUrl: undefined, logger });
  try {
    const decisions = await Promise.all(Array.from({ length: 20 }, () => limiter.consume('k', minute(10))));
    expect(allowedCount(decisions)).toBe(10);
    expect(limiter.status()).toEqual({ mode: 'in-process', shared: false, failMode: 'open', redis: null, inProcessKeys: 1 });
  } finally {
    await limiter.close();
  }
});
