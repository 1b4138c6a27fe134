/**
 * A circuit breaker around Redis, so a dead or slow Redis costs requests nothing once it is known to be failing.
 *
 * Responsible for the state machine: closed (calls go to Redis) → open after `failureThreshold` consecutive failures
 * (calls skip Redis) → after `cooldownMs`, half-open: one background probe (a PING), never a client's request, decides
 * whether to close again or stay open for another cool-down. So recovery needs no traffic, and no request ever waits
 * on a probe. Not responsible for what callers do while it is open (limiter.ts falls back or refuses).
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerStatus {
  state: BreakerState;
  consecutiveFailures: number;
  /** When the breaker last opened (ISO time), while it is not closed. */
  openedAt: string | null;
  /** The last failure's message (never a URL or credentials: ioredis messages hold neither). */
  lastError: string | null;
}

export interface CircuitBreakerOptions {
  failureThreshold: number;
  cooldownMs: number;
  /** Resolves when the dependency answers again. */
  probe: () => Promise<unknown>;
  onOpen?: (error: unknown) => void;
  onClose?: () => void;
}

export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private openedAt: number | undefined;
  private lastError: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: CircuitBreakerOptions) {}

  /** True when calls should go to the dependency. */
  get allowsCalls(): boolean {
    return this.state === 'closed';
  }

  /** Milliseconds until the next probe (0 when closed). */
  get msUntilProbe(): number {
    if (this.state === 'closed' || this.openedAt === undefined) return 0;
    return Math.max(0, this.openedAt + this.options.cooldownMs - Date.now());
  }

  status(): BreakerStatus {
    return {
      state: this.state,
      consecutiveFailures: this.consecutiveFailures,
      openedAt: this.state === 'closed' || this.openedAt === undefined ? null : new Date(this.openedAt).toISOString(),
      lastError: this.lastError,
    };
  }

  recordSuccess(): void {
    if (this.state === 'closed') this.consecutiveFailures = 0;
  }

  recordFailure(error: unknown): void {
    this.lastError = error instanceof Error ? error.message : String(error);
    if (this.state !== 'closed') return;
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= this.options.failureThreshold) this.open(error);
  }

  /** Opens at once (e.g. the dependency was unreachable at start). */
  trip(error: unknown): void {
    this.lastError = error instanceof Error ? error.message : String(error);
    if (this.state === 'closed') this.open(error);
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private open(error: unknown): void {
    const wasOpen = this.state !== 'closed';
    this.state = 'open';
    this.openedAt = Date.now();
    if (!wasOpen) this.options.onOpen?.(error);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.runProbe(), this.options.cooldownMs);
    this.timer.unref();
  }

  private async runProbe(): Promise<void> {
    if (this.closed) return;
    this.state = 'half-open';
    try {
      await this.options.probe();
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      this.state = 'open';
      this.openedAt = Date.now();
      this.scheduleProbe();
      return;
    }
    if (this.closed) return;
    this.state = 'closed';
    this.consecutiveFailures = 0;
    this.openedAt = undefined;
    this.options.onClose?.();
  }
}
