/**
 * Real Redis for tests: REDIS_URL, or redis://127.0.0.1:6379 when unset.
 *
 * Redis is probed once when a test file imports this module. Unreachable under CI=true: the importing file fails
 * (CI must never pass by skipping the Redis tests). Unreachable elsewhere: the Redis tests are skipped and the reason
 * is printed. Each test namespaces its keys with `uniqueKeyPrefix()`, so files run concurrently and never see
 * leftovers (keys expire by themselves one window after their last call).
 */
import { Redis } from 'ioredis';
import { describe } from 'vitest';
import { baseConfig, unique } from './server.js';

export const redisUrl = baseConfig.redisUrl ?? 'redis://127.0.0.1:6379';
const parsed = new URL(redisUrl);
/** Where Redis listens, for pointing a TCP proxy at it. */
export const redisTarget = { host: parsed.hostname, port: Number(parsed.port || 6379) };

async function probe(): Promise<string | undefined> {
  const client = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let socketError: Error | undefined;
  client.on('error', (error: Error) => (socketError ??= error));
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    // The socket's error (ECONNREFUSED…) says more than ioredis's "Connection is closed."
    return (socketError ?? (error instanceof Error ? error : new Error(String(error)))).message;
  } finally {
    client.disconnect();
  }
}

const unreachable = await probe();
if (unreachable !== undefined) {
  const where = `${redisTarget.host}:${redisTarget.port}`;
  if (process.env.CI === 'true') {
    throw new Error(`Redis is unreachable at ${where} (${unreachable}); CI=true requires the Redis tests to run.`);
  }
  console.warn(`Skipping the Redis tests: Redis is unreachable at ${where} (${unreachable}). Set REDIS_URL to run them.`);
}

export const redisAvailable = unreachable === undefined;

/** `describe` when Redis answers, `describe.skip` otherwise (outside CI). */
export const describeWithRedis = redisAvailable ? describe : describe.skip;

/** A key prefix no other test or run uses. */
export function uniqueKeyPrefix(): string {
  return `test:rl:${unique()}:`;
}

/** `redisUrl` with host and port replaced, e.g. to go through a TCP proxy. */
export function redisUrlVia(address: { host: string; port: number }): string {
  const url = new URL(redisUrl);
  url.hostname = address.host;
  url.port = String(address.port);
  return url.toString();
}

/** A plain client for inspecting keys; the caller disconnects it. */
export function inspectRedis(): Redis {
  return new Redis(redisUrl, { maxRetriesPerRequest: 1 });
}
