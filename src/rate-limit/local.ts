/**
 * The in-process sliding-window counter: the limiter when REDIS_URL is unset (one instance), and the fallback while
 * Redis is failing in fail-open mode.
 *
 * Responsible for the same semantics as the Redis script (no more than `max` calls pass in any closed interval of
 * length `window`; rejected calls are not counted) and for bounded memory: expired timestamps are dropped on every
 * hit, keys whose calls have all expired are evicted by a periodic sweep, and beyond `maxKeys` the least recently
 * used key is forgotten (which can only let that identity through early, never block it wrongly). Not responsible for
 * sharing counts across instances (redis.ts) nor for choosing between the two (limiter.ts).
 *
 * Time is monotonic (performance.now), so a wall-clock step cannot open or close windows.
 */
import type { RateLimitDecision, RateLimitPolicy, SlidingWindowCounter } from './policy.js';

interface Window {
  /** Timestamps of the counted calls, ascending; entries before `head` are expired and awaiting compaction. */
  hits: number[];
  head: number;
  windowMs: number;
}

export interface InProcessCounterOptions {
  /** Most keys tracked at once (default 100 000). */
  maxKeys?: number;
  /** How often keys whose calls have all expired are evicted (default 10 s; 0 = only when `sweep()` is called). */
  sweepIntervalMs?: number;
  /** Milliseconds on a monotonic clock; tests may pass their own. */
  now?: () => number;
}

export class InProcessSlidingWindow implements SlidingWindowCounter {
  private readonly windows = new Map<string, Window>();
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(options: InProcessCounterOptions = {}) {
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? (() => performance.now());
    const sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
    if (sweepIntervalMs > 0) {
      this.timer = setInterval(() => this.sweep(), sweepIntervalMs);
      this.timer.unref();
    }
  }

  /** Keys currently tracked (for status and tests). */
  get size(): number {
    return this.windows.size;
  }

  /** Timestamps currently held for `key`, expired ones awaiting compaction included (for tests). */
  heldEntries(key: string): number {
    return this.windows.get(key)?.hits.length ?? 0;
  }

  hit(key: string, policy: RateLimitPolicy): RateLimitDecision {
    const now = this.now();
    let window = this.windows.get(key);
    if (window) {
      // Re-insert so Map order is least recently used first.
      this.windows.delete(key);
      window.windowMs = policy.windowMs;
      prune(window, now);
    } else {
      window = { hits: [], head: 0, windowMs: policy.windowMs };
    }
    this.windows.set(key, window);
    if (this.windows.size > this.maxKeys) {
      const oldest = this.windows.keys().next().value as string;
      this.windows.delete(oldest);
    }

    const counted = window.hits.length - window.head;
    if (counted < policy.max) {
      window.hits.push(now);
      return { allowed: true, remaining: policy.max - counted - 1 };
    }
    const oldest = window.hits[window.head]!;
    return { allowed: false, reason: 'limited', retryAfterMs: Math.max(1, Math.ceil(oldest + policy.windowMs - now)) };
  }

  /** Evicts every key whose calls have all left their window. */
  sweep(): void {
    const now = this.now();
    for (const [key, window] of this.windows) {
      prune(window, now);
      if (window.head >= window.hits.length) this.windows.delete(key);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.windows.clear();
  }
}

/** Drops the calls that left the window; a call at `t` still counts at `t + windowMs` (closed interval). */
function prune(window: Window, now: number): void {
  const cutoff = now - window.windowMs;
  while (window.head < window.hits.length && window.hits[window.head]! < cutoff) window.head++;
  if (window.head > 0 && (window.head >= window.hits.length || window.head > window.hits.length / 2)) {
    window.hits = window.hits.slice(window.head);
    window.head = 0;
  }
}
