/**
 * The @rateLimit directive without Redis: bad directive arguments fail the schema build with a message naming the
 * field and the value, the real SDL's limits, the resolver wrapper (checked before the resolver, keyed by principal
 * and identityArgs, RATE_LIMITED extensions), the in-process counter's sliding window and its bounded memory, the
 * configuration, and RATE_LIMIT_ENABLED=false logged loudly at startup.
 */
import { makeExecutableSchema } from '@graphql-tools/schema';
import { getDirective } from '@graphql-tools/utils';
import { graphql, type GraphQLSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../src/auth/principal.js';
import { ConfigError, loadConfig } from '../src/config/index.js';
import { buildSchema, loadTypeDefs } from '../src/graphql/schema.js';
import {
  applyRateLimitDirective,
  InProcessSlidingWindow,
  parseWindow,
  rateLimitKey,
  RateLimitDirectiveError,
  type FieldRateLimit,
  type RateLimiter,
  type RateLimitPolicy,
} from '../src/rate-limit/index.js';
import { slidingBoundaryScenario } from './support/redis-scenarios.js';
import { captureLogs, startServer } from './support/server.js';

const BASE_SDL = loadTypeDefs().find((sdl) => sdl.includes('directive @rateLimit'))!;

function schemaWith(sdl: string, resolvers: Record<string, any> = {}): GraphQLSchema {
  return makeExecutableSchema({ typeDefs: [BASE_SDL, sdl], resolvers });
}

function buildError(sdl: string): RateLimitDirectiveError {
  try {
    applyRateLimitDirective(schemaWith(sdl), undefined);
  } catch (error) {
    expect(error).toBeInstanceOf(RateLimitDirectiveError);
    return error as RateLimitDirectiveError;
  }
  throw new Error('expected the schema build to fail');
}

/** A limiter over an in-process counter that records every key it is asked about and every refusal reported. */
function recordingLimiter(counter = new InProcessSlidingWindow({ sweepIntervalMs: 0 })) {
  const keys: string[] = [];
  const refusals: string[] = [];
  const limiter: RateLimiter = {
    enabled: true,
    async consume(key, policy) {
      keys.push(key);
      return counter.hit(key, policy);
    },
    status: () => ({ mode: 'in-process', shared: false, failMode: 'open', redis: null, inProcessKeys: counter.size }),
    onRefused: () => {},
    reportRefusal: (field, reason) => void refusals.push(`${field}:${reason}`),
    close: async () => counter.close(),
  };
  return { limiter, keys, refusals };
}

const anonymous = (ip: string): Principal => ({ kind: 'anonymous', ip });
const user = (userId: number): Principal => ({ kind: 'user', userId, role: 'customer', tokenId: userId, ip: '10.0.0.1' });

describe('directive arguments are checked at schema build', () => {
  it('refuses a malformed window, max 0, an unknown identityArgs path and an empty message, listing all of them', () => {
    const error = buildError(`
      input PayInput { orderId: ID! }
      extend type Query {
        a: Int @rateLimit(max: 5, window: "10 parsecs")
        b: Int @rateLimit(max: 0, window: "1m")
        c(input: PayInput): Int @rateLimit(max: 5, window: "1m", identityArgs: ["input.nope", "missing"])
        d: Int @rateLimit(max: 5, window: "1m", message: "  ")
      }`);
    expect(error.problems).toEqual([
      'Query.a: window "10 parsecs" is not a duration like "10s", "1m" or "1h" (units: ms, s, m, h, d)',
      'Query.b: max must be an integer from 1 to 100000 (got 0)',
      'Query.c: identityArgs "input.nope" does not resolve: "nope" is not a field of PayInput',
      'Query.c: identityArgs "missing" names no argument of the field (arguments: input)',
      'Query.d: message must not be empty',
    ]);
    expect(error.message).toMatch(/^Invalid @rateLimit directive:\n {2}- Query\.a: window "10 parsecs"/);
  });

  it('refuses windows out of range and max above the cap', () => {
    const error = buildError(`extend type Query {
      a: Int @rateLimit(max: 5, window: "500ms")
      b: Int @rateLimit(max: 5, window: "30d")
      c: Int @rateLimit(max: 1000000, window: "1h")
      d: Int @rateLimit(max: -3, window: "")
    }`);
    expect(error.problems).toEqual([
      'Query.a: window "500ms" must be from 1s to 7d',
      'Query.b: window "30d" must be from 1s to 7d',
      'Query.c: max must be an integer from 1 to 100000 (got 1000000)',
      'Query.d: max must be an integer from 1 to 100000 (got -3)',
      'Query.d: window "" is not a duration like "10s", "1m" or "1h" (units: ms, s, m, h, d)',
    ]);
  });

  it('parses the durations graphql-rate-limit users write', () => {
    expect(['10s', '1m', '1h', '1d', '90 seconds', '2 minutes', '500ms'].map(parseWindow)).toEqual([
      10_000, 60_000, 3_600_000, 86_400_000, 90_000, 120_000, 500,
    ]);
    expect(['10', 'm', '1.5m', '-1s', '10 parsecs', '1m30s'].map(parseWindow)).toEqual(Array(6).fill(undefined));
  });

  it('builds the real schema, with a limit on every mutation and on the expensive list queries', () => {
    const schema = buildSchema();
    const limits: Record<string, string> = {};
    for (const type of [schema.getQueryType()!, schema.getMutationType()!]) {
      for (const field of Object.values(type.getFields())) {
        const directive = getDirective(schema, field, 'rateLimit')?.[0];
        if (directive) limits[`${type.name}.${field.name}`] = `${directive.max}/${directive.window}`;
      }
    }
    for (const mutation of Object.keys(schema.getMutationType()!.getFields())) {
      expect(limits, `Mutation.${mutation} has no @rateLimit`).toHaveProperty(`Mutation.${mutation}`);
    }
    expect(limits).toMatchObject({
      'Query.users': '600/1m',
      'Query.orders': '600/1m',
      'Query.products': '600/1m',
      'Mutation.createUser': '120/1m',
      'Mutation.placeOrder': '120/1m',
      'Mutation.payOrder': '60/1m',
    });
    // Payments are the strictest.
    const perMinute = (limit: string) => Number(limit.split('/')[0]);
    for (const [field, limit] of Object.entries(limits)) {
      expect(perMinute(limit), field).toBeGreaterThanOrEqual(perMinute(limits['Mutation.payOrder']!));
    }
  });
});

describe('the resolver wrapper', () => {
  const SDL = `
    input PayInput { orderId: ID!, amountCents: Int! }
    extend type Query { other: String }
    extend type Mutation {
      pay(input: PayInput!): Int @rateLimit(max: 2, window: "1m", identityArgs: ["input.orderId"])
      ping: String @rateLimit(max: 1, window: "1h", message: "One ping only.")
    }`;

  function setup() {
    const calls: unknown[] = [];
    const schema = schemaWith(SDL, {
      Query: { other: () => 'still here' },
      Mutation: {
        pay: (_: unknown, args: any) => {
          calls.push(args.input.orderId);
          return calls.length;
        },
        ping: () => 'pong',
      },
    });
    const { limiter, keys, refusals } = recordingLimiter();
    const limited = applyRateLimitDirective(schema, limiter);
    const run = (source: string, principal: Principal) =>
      graphql({ schema: limited, source, contextValue: { principal } });
    return { run, calls, keys, refusals };
  }

  it('checks before the resolver: a limited call never reaches it, and carries code, retryAfterSeconds, limit, window', async () => {
    const { run, calls, refusals } = setup();
    const alice = user(7);
    for (let i = 0; i < 2; i++) {
      expect((await run(`mutation { pay(input: {orderId: "1", amountCents: 1}) }`, alice)).errors).toBeUndefined();
    }
    const limited = await run(`mutation { pay(input: {orderId: "1", amountCents: 1}) }`, alice);
    expect(calls).toEqual(['1', '1']);
    expect(limited.data).toEqual({ pay: null });
    expect(limited.errors).toHaveLength(1);
    expect(limited.errors![0]!.message).toMatch(/^Too many calls to Mutation\.pay: at most 2 per 1m\. Retry in \d+ s\.$/);
    const extensions = limited.errors![0]!.extensions;
    expect(extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 2, window: '1m' });
    expect(extensions.retryAfterSeconds).toBeGreaterThanOrEqual(59);
    expect(extensions.retryAfterSeconds).toBeLessThanOrEqual(60);
    // Reported to observers (metrics) by field and reason.
    expect(refusals).toEqual(['Mutation.pay:limited']);
  });

  it('counts two principals and two identityArgs values separately, and other arguments not at all', async () => {
    const { run, calls, keys } = setup();
    const pay = (orderId: string, amountCents: number) =>
      `mutation { pay(input: {orderId: "${orderId}", amountCents: ${amountCents}}) }`;
    const codes = async (source: string, principal: Principal) =>
      (await run(source, principal)).errors?.map((e) => e.extensions.code) ?? [];

    // Order 1 for user 7: two calls (different amounts count together), then limited.
    expect(await codes(pay('1', 1), user(7))).toEqual([]);
    expect(await codes(pay('1', 2), user(7))).toEqual([]);
    expect(await codes(pay('1', 3), user(7))).toEqual(['RATE_LIMITED']);
    // Another order, another user, an anonymous IP: each has its own budget.
    expect(await codes(pay('2', 1), user(7))).toEqual([]);
    expect(await codes(pay('1', 1), user(8))).toEqual([]);
    expect(await codes(pay('1', 1), anonymous('192.0.2.1'))).toEqual([]);
    expect(await codes(pay('1', 1), anonymous('192.0.2.1'))).toEqual([]);
    expect(await codes(pay('1', 1), anonymous('192.0.2.1'))).toEqual(['RATE_LIMITED']);
    expect(await codes(pay('1', 1), anonymous('192.0.2.2'))).toEqual([]);
    expect(calls).toHaveLength(7);

    expect(new Set(keys).size).toBe(5);
    expect(keys[0]).toMatch(/^Mutation\.pay:user:7:[A-Za-z0-9_-]{22}$/);
    expect(keys.filter((k) => k.startsWith('Mutation.pay:ip:192.0.2.1:'))).toHaveLength(3);
  });

  it('returns partial data: the limited field is null with its error, the other fields resolve', async () => {
    const { run } = setup();
    const alice = user(9);
    expect((await run(`mutation { ping }`, alice)).data).toEqual({ ping: 'pong' });
    const both = await run(`mutation { ping pay(input: {orderId: "5", amountCents: 1}) }`, alice);
    expect(both.data).toEqual({ ping: null, pay: 1 });
    expect(both.errors!.map((e) => [e.path, e.message, e.extensions.code])).toEqual([
      [['ping'], 'One ping only.', 'RATE_LIMITED'],
    ]);
    expect((await run(`{ other }`, alice)).data).toEqual({ other: 'still here' });
  });

  it('keys identity args by value: an object argument and a missing one are keys too', () => {
    const limit: FieldRateLimit = {
      coordinate: 'Mutation.x',
      policy: { max: 1, windowMs: 1000, window: '1s' },
      identityArgs: [['input', 'orderId'], ['other']],
      message: undefined,
    };
    const a = rateLimitKey(limit, user(1), { input: { orderId: '1' } });
    const b = rateLimitKey(limit, user(1), { input: { orderId: '2' } });
    const c = rateLimitKey(limit, user(1), { input: { orderId: '1' }, other: null });
    expect(a).not.toBe(b);
    expect(a).toBe(c);
    expect(rateLimitKey({ ...limit, identityArgs: [] }, anonymous('::1'), {})).toBe('Mutation.x:ip:::1');
  });

  it('leaves the schema unwrapped when limits are disabled, after checking the arguments', async () => {
    const schema = schemaWith(
      `extend type Query { a: Int @rateLimit(max: 1, window: "1h") }
       extend type Mutation { noop: Int }`,
      { Query: { a: () => 1 } },
    );
    const disabled: RateLimiter = {
      enabled: false,
      consume: () => Promise.reject(new Error('must not be called')),
      status: () => ({ mode: 'disabled', shared: false, failMode: 'open', redis: null, inProcessKeys: 0 }),
      onRefused: () => {},
      reportRefusal: () => {},
      close: async () => {},
    };
    const result = applyRateLimitDirective(schema, disabled);
    expect(result.getQueryType()!.getFields().a!.resolve).toBe(schema.getQueryType()!.getFields().a!.resolve);
    for (let i = 0; i < 3; i++) {
      expect(await graphql({ schema: result, source: '{ a }', contextValue: { principal: anonymous('1.1.1.1') } })).toEqual({
        data: { a: 1 },
      });
    }
  });
});

describe('the in-process counter', () => {
  const policy = (max: number, windowMs: number): RateLimitPolicy => ({ max, windowMs, window: `${windowMs}ms` });

  it('never lets more than max through in any interval of the window (random arrivals, exact clock)', () => {
    let now = 0;
    const counter = new InProcessSlidingWindow({ now: () => now, sweepIntervalMs: 0 });
    const p = policy(5, 1000);
    const passed: number[] = [];
    let seed = 42;
    for (let i = 0; i < 5000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      now += seed % 120;
      const decision = counter.hit('k', p);
      if (decision.allowed) passed.push(now);
      else {
        // The retry hint is exact: the oldest counted call leaves the window then.
        const oldestInWindow = passed.filter((t) => t >= now - 1000)[0]!;
        expect(decision.retryAfterMs).toBe(Math.max(1, oldestInWindow + 1000 - now));
      }
    }
    for (let i = 0; i + p.max < passed.length; i++) {
      // Any max+1 passes span more than the window (a closed interval of length window holds at most max).
      expect(passed[i + p.max]! - passed[i]!).toBeGreaterThan(1000);
    }
    // And it does not starve: over 5000 calls about max per window got through.
    expect(passed.length).toBeGreaterThan((now / 1000) * p.max * 0.9);
  });

  it('does not count rejected calls', () => {
    let now = 0;
    const counter = new InProcessSlidingWindow({ now: () => now, sweepIntervalMs: 0 });
    const p = policy(2, 1000);
    counter.hit('k', p);
    now = 500;
    counter.hit('k', p);
    for (now = 501; now < 1000; now += 50) expect(counter.hit('k', p).allowed).toBe(false);
    now = 1001; // the first call left the window; the rejected ones never entered it
    expect(counter.hit('k', p)).toEqual({ allowed: true, remaining: 0 });
  });

  it('evicts expired calls on use and idle keys on sweep: memory stays bounded', () => {
    let now = 0;
    const counter = new InProcessSlidingWindow({ now: () => now, sweepIntervalMs: 0 });
    const p = policy(3, 1000);
    for (; now < 60_000; now += 10) counter.hit('hot', p);
    expect(counter.heldEntries('hot')).toBeLessThanOrEqual(2 * p.max + 1);
    for (let i = 0; i < 10_000; i++) counter.hit(`ip:${i}`, p);
    expect(counter.size).toBe(10_001);
    now += 1001;
    counter.sweep();
    expect(counter.size).toBe(0);
  });

  it('sweeps on its own timer, in real time', async () => {
    const counter = new InProcessSlidingWindow({ sweepIntervalMs: 50 });
    try {
      for (let i = 0; i < 1000; i++) counter.hit(`ip:${i}`, policy(1, 100));
      expect(counter.size).toBe(1000);
      await expect.poll(() => counter.size, { timeout: 2000, interval: 25 }).toBe(0);
    } finally {
      counter.close();
    }
  });

  it('forgets the least recently used key beyond maxKeys', () => {
    const counter = new InProcessSlidingWindow({ maxKeys: 100, sweepIntervalMs: 0 });
    const p = policy(1, 60_000);
    counter.hit('keep', p);
    for (let i = 0; i < 99; i++) counter.hit(`a:${i}`, p);
    expect(counter.hit('keep', p).allowed).toBe(false); // touched: now the most recently used
    for (let i = 0; i < 99; i++) counter.hit(`b:${i}`, p);
    expect(counter.size).toBe(100);
    expect(counter.hit('keep', p).allowed).toBe(false); // survived: the a:* keys went first
    expect(counter.hit('a:0', p).allowed).toBe(true); // forgotten, so counted afresh
    counter.close();
  });

  it('holds the sliding boundary in real time with a "2s" window', async () => {
    const counter = new InProcessSlidingWindow({ sweepIntervalMs: 0 });
    await slidingBoundaryScenario((key, p) => counter.hit(key, p));
    counter.close();
  });
});

describe('configuration', () => {
  it('has safe defaults and reads every setting', () => {
    expect(loadConfig({}).rateLimit).toEqual({
      enabled: true,
      failMode: 'open',
      keyPrefix: 'ledger:rl:',
      redisCommandTimeoutMs: 150,
      redisConnectTimeoutMs: 1000,
      breakerFailureThreshold: 5,
      breakerCooldownMs: 5000,
      inProcessMaxKeys: 100_000,
    });
    expect(loadConfig({}).http.trustProxyHops).toBe(0);
    const config = loadConfig({
      RATE_LIMIT_ENABLED: 'false',
      RATE_LIMIT_FAIL_MODE: 'closed',
      RATE_LIMIT_KEY_PREFIX: 'staging:rl:',
      RATE_LIMIT_REDIS_TIMEOUT_MS: '50',
      RATE_LIMIT_BREAKER_THRESHOLD: '3',
      RATE_LIMIT_BREAKER_COOLDOWN_MS: '1000',
      TRUST_PROXY: '2',
    });
    expect(config.rateLimit).toMatchObject({
      enabled: false,
      failMode: 'closed',
      keyPrefix: 'staging:rl:',
      redisCommandTimeoutMs: 50,
      breakerFailureThreshold: 3,
      breakerCooldownMs: 1000,
    });
    expect(config.http.trustProxyHops).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'false' }).http.trustProxyHops).toBe(0);
  });

  it('refuses a bad fail mode and TRUST_PROXY=true, explaining why', () => {
    let error: unknown;
    try {
      loadConfig({ RATE_LIMIT_FAIL_MODE: 'sometimes', TRUST_PROXY: 'true', RATE_LIMIT_REDIS_TIMEOUT_MS: '0' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/RATE_LIMIT_FAIL_MODE must be one of open, closed/);
    expect(problems).toMatch(/TRUST_PROXY must be false or the number of proxies.*lets clients choose their own IP/);
    expect(problems).toMatch(/RATE_LIMIT_REDIS_TIMEOUT_MS/);
  });
});

describe('RATE_LIMIT_ENABLED=false', () => {
  it('is logged at warn level at startup and reported as disabled', async () => {
    const { logger, lines } = captureLogs();
    const server = await startServer({ env: { RATE_LIMIT_ENABLED: 'false' }, logger });
    try {
      expect(server.app.rateLimiter.status()).toMatchObject({ mode: 'disabled', shared: false, redis: null });
      const warning = lines.find((line) => /RATE LIMITING IS DISABLED/.test(line.msg));
      expect(warning?.level).toBe(40);
    } finally {
      await server.close();
    }
  });
});
