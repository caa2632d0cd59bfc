/**
 * Backpressure for one bridge instance: a token bucket on RunJob calls per minute and a cap on
 * dispatches in flight at once. Shared by every delivery the instance serves. A delivery that
 * finds no room is answered 429 before it claims anything, so Pub/Sub keeps the message and
 * redelivers it with its own backoff: nothing is dropped, and nothing queues in memory.
 */

export interface LimiterSettings {
  /** RunJob calls per minute this instance may start (the bucket's refill rate). */
  runJobPerMinute: number;
  /** How many calls may go at once after a quiet spell (the bucket's size), at least 1. */
  runJobBurst: number;
  /** Dispatches (claim → RunJob → record) in flight at once. */
  maxConcurrentLaunches: number;
  /** Monotonic clock in ms; tests may hand in their own. */
  nowMs?: () => number;
}

/** Which limit refused a delivery. */
export type LimitKind = 'rate' | 'concurrency';

/** A slot held by one dispatch. Release it exactly once, whatever happened. */
export interface Permit {
  /**
   * Frees the slot. `launched: false` gives the token back: the dispatch ended without calling
   * RunJob (a duplicate, a lease held elsewhere, an adoption), so it used none of the quota.
   */
  release(launched: boolean): void;
}

export type Admission =
  { ok: true; permit: Permit } | { ok: false; limit: LimitKind; retryAfterMs: number };

/** What the limiter has seen, for tests, logs and a metrics endpoint. */
export interface LimiterGauge {
  /** Dispatches holding a slot right now. */
  inFlight: number;
  /** The highest `inFlight` ever reached: never above `maxConcurrentLaunches`. */
  maxInFlight: number;
  admitted: number;
  refusedRate: number;
  refusedConcurrency: number;
  /** Tokens in the bucket now (fractional). */
  tokens: number;
}

/** The in-instance limiter. One per bridge instance, passed to the dispatcher. */
export class LaunchLimiter {
  readonly settings: Readonly<LimiterSettings>;
  private readonly nowMs: () => number;
  private readonly refillPerMs: number;
  private tokens: number;
  private lastRefillMs: number;
  private inFlight = 0;
  private maxInFlight = 0;
  private admitted = 0;
  private refusedRate = 0;
  private refusedConcurrency = 0;

  constructor(settings: LimiterSettings) {
    for (const [name, value] of Object.entries({
      runJobPerMinute: settings.runJobPerMinute,
      runJobBurst: settings.runJobBurst,
      maxConcurrentLaunches: settings.maxConcurrentLaunches,
    })) {
      if (!Number.isFinite(value) || value < 1) {
        throw new RangeError(`LaunchLimiter: ${name} must be at least 1, got ${value}`);
      }
    }
    this.settings = { ...settings };
    this.nowMs = settings.nowMs ?? (() => performance.now());
    this.refillPerMs = settings.runJobPerMinute / 60_000;
    this.tokens = settings.runJobBurst;
    this.lastRefillMs = this.nowMs();
  }

  private refill(): void {
    const now = this.nowMs();
    const elapsed = Math.max(0, now - this.lastRefillMs);
    this.tokens = Math.min(this.settings.runJobBurst, this.tokens + elapsed * this.refillPerMs);
    this.lastRefillMs = now;
  }

  /**
   * Admits one dispatch if both limits have room, taking one token and one slot; otherwise says
   * which limit refused and roughly when to come back (Pub/Sub ignores the hint; logs show it).
   */
  tryAcquire(): Admission {
    this.refill();
    if (this.inFlight >= this.settings.maxConcurrentLaunches) {
      this.refusedConcurrency++;
      // A slot frees when a dispatch ends: about one RunJob round trip. No better guess here.
      return { ok: false, limit: 'concurrency', retryAfterMs: 1000 };
    }
    if (this.tokens < 1) {
      this.refusedRate++;
      return {
        ok: false,
        limit: 'rate',
        retryAfterMs: Math.ceil((1 - this.tokens) / this.refillPerMs),
      };
    }
    this.tokens -= 1;
    this.inFlight++;
    this.admitted++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let released = false;
    return {
      ok: true,
      permit: {
        release: (launched: boolean) => {
          if (released) return;
          released = true;
          this.inFlight--;
          if (!launched) {
            this.refill();
            this.tokens = Math.min(this.settings.runJobBurst, this.tokens + 1);
          }
        },
      },
    };
  }

  gauge(): LimiterGauge {
    this.refill();
    return {
      inFlight: this.inFlight,
      maxInFlight: this.maxInFlight,
      admitted: this.admitted,
      refusedRate: this.refusedRate,
      refusedConcurrency: this.refusedConcurrency,
      tokens: this.tokens,
    };
  }
}
