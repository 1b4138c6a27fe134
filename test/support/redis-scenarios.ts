/**
 * Scenarios shared by the tests of the in-process and the Redis sliding-window counters, so both are held to the
 * same semantics. Real time, no fake timers: the Redis counter uses Redis server time.
 */
import { expect } from 'vitest';
import type { RateLimitDecision, RateLimitPolicy } from '../../src/rate-limit/index.js';

/**
 * The sliding boundary in real time (window 2 s, max 4): start 300-400 ms before a multiple of the window, where a
 * fixed-window counter would reset; just past that boundary every call is still refused; once the window has slid
 * past the first calls, max pass again.
 */
export async function slidingBoundaryScenario(
  hit: (key: string, policy: RateLimitPolicy) => Promise<RateLimitDecision> | RateLimitDecision,
): Promise<void> {
  const window = 2000;
  const p: RateLimitPolicy = { max: 4, windowMs: window, window: '2s' };
  const key = `boundary:${Math.random()}`;
  const burst = () => Promise.all(Array.from({ length: p.max }, () => hit(key, p)));
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

  const phase = Date.now() % window;
  if (phase < window - 400 || phase >= window - 300) await sleep((window - 400 - phase + window) % window);
  const t0 = Date.now();
  const boundary = Math.ceil(t0 / window) * window;

  expect((await burst()).every((d) => d.allowed)).toBe(true);
  await sleep(boundary + 100 - Date.now());
  const afterBoundary = await burst();
  expect(afterBoundary.filter((d) => d.allowed)).toHaveLength(0);
  for (const decision of afterBoundary) {
    if (decision.allowed) continue;
    // The oldest call (at ~t0) leaves the window at ~t0 + 2 s, i.e. 1.5-1.6 s from now.
    expect(decision.retryAfterMs).toBeGreaterThan(window - 700);
    expect(decision.retryAfterMs).toBeLessThanOrEqual(window - 300);
  }
  await sleep(t0 + window + 150 - Date.now());
  expect((await burst()).filter((d) => d.allowed)).toHaveLength(p.max);
  expect((await hit(key, p)).allowed).toBe(false);
}
