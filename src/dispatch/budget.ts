import type { QueueReason } from '../contract/index.ts';
import { errorMessage } from '../errors/index.ts';

/**
 * One instance's share of Cloud Run's RunJob budget (docs/operations.md, "The RunJob budget").
 *
 * Cloud Run's quota — job run requests per minute, and running executions, per project and
 * region — is shared by every bridge instance, and Cloud Run is its only arbiter: nothing in
 * Firestore counts it (a shared counter document would need a write per RunJob, past Firestore's
 * ~1 sustained write/s per document at the quota's 1–3 calls a second). Each instance paces itself
 * with a token bucket at the configured rate and adapts to what Cloud Run answers:
 * RESOURCE_EXHAUSTED pauses it (exponential backoff, then one probe) and halves its pace for the
 * run quota; each accepted call wins back a tenth of the configured pace. A refused call costs the
 * request nothing: it goes back to the queue.
 */
export interface BudgetSettings {
  /** RunJob calls per minute this instance aims for (JOBBRIDGE_RUNJOB_PER_MINUTE). */
  runJobPerMinute: number;
  /** Calls that may go at once after a quiet spell (the bucket's size), at least 1. */
  runJobBurst: number;
  /** RunJob calls in flight at once from this instance. */
  maxConcurrentLaunches: number;
  /** First pause after RESOURCE_EXHAUSTED; doubles while Cloud Run keeps refusing. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Monotonic clock in ms; tests may hand in their own. */
  nowMs?: () => number;
}

/** Why no RunJob may go now, and roughly when to ask again. */
export interface Refusal {
  ok: false;
  reason: QueueReason;
  retryAfterMs: number;
}

/** The right to make one RunJob call. Settle it exactly once. */
export interface Ticket {
  ok: true;
  /** No call was made: the token goes back. */
  unused(): void;
  /** Cloud Run accepted the call. */
  launched(): void;
  /** Cloud Run answered RESOURCE_EXHAUSTED for `reason`. */
  exhausted(reason: QueueReason): void;
  /** The call failed otherwise: it counts as made. */
  failed(): void;
}

/** What the budget has seen, for `GET /limitz` and the drain's log line. */
export interface BudgetGauge {
  configuredPerMinute: number;
  /** The pace now: below the configured one after RESOURCE_EXHAUSTED. */
  pacePerMinute: number;
  tokens: number;
  inFlight: number;
  maxInFlight: number;
  launched: number;
  exhausted: number;
  /** Set while paused after RESOURCE_EXHAUSTED. */
  pausedForMs: number;
  pauseReason: QueueReason | null;
}

export class RunBudget {
  readonly settings: Readonly<Required<Omit<BudgetSettings, 'nowMs'>>>;
  private readonly nowMs: () => number;
  private pacePerMinute: number;
  private tokens: number;
  private lastRefillMs: number;
  private inFlight = 0;
  private maxInFlight = 0;
  private launchedCount = 0;
  private exhaustedCount = 0;
  private backoffMs = 0;
  private pausedUntilMs: number | undefined;
  private pauseStartedMs = Number.NEGATIVE_INFINITY;
  private pauseReason: QueueReason | null = null;

  constructor(settings: BudgetSettings) {
    for (const name of ['runJobPerMinute', 'runJobBurst', 'maxConcurrentLaunches'] as const) {
      const value = settings[name];
      if (!Number.isFinite(value) || value < 1)
        throw new RangeError(`RunBudget: ${name} must be at least 1, got ${value}`);
    }
    this.settings = {
      runJobPerMinute: settings.runJobPerMinute,
      runJobBurst: settings.runJobBurst,
      maxConcurrentLaunches: settings.maxConcurrentLaunches,
      backoffInitialMs: settings.backoffInitialMs ?? 1000,
      backoffMaxMs: settings.backoffMaxMs ?? 30_000,
    };
    this.nowMs = settings.nowMs ?? (() => performance.now());
    this.pacePerMinute = settings.runJobPerMinute;
    this.tokens = settings.runJobBurst;
    this.lastRefillMs = this.nowMs();
  }

  private refill(now: number): void {
    if (this.pausedUntilMs !== undefined) {
      if (now < this.pausedUntilMs) return;
      // The pause is over: one probe, then the bucket refills at the (reduced) pace.
      this.tokens = Math.max(this.tokens, 1);
      this.lastRefillMs = this.pausedUntilMs;
      this.pausedUntilMs = undefined;
    }
    const elapsed = Math.max(0, now - this.lastRefillMs);
    this.tokens = Math.min(
      this.settings.runJobBurst,
      this.tokens + (elapsed * this.pacePerMinute) / 60_000,
    );
    this.lastRefillMs = now;
  }

  /** Whether a call may go now, without taking anything: the admission's fast-path test. */
  wouldAdmit(): QueueReason | undefined {
    return this.refusal(this.nowMs())?.reason;
  }

  /** Why no call may go now and when to ask again, or undefined when one may. Takes nothing. */
  private refusal(now: number): Refusal | undefined {
    this.refill(now);
    if (this.pausedUntilMs !== undefined) {
      return {
        ok: false,
        reason: this.pauseReason ?? 'runjob-rate',
        retryAfterMs: Math.ceil(this.pausedUntilMs - now),
      };
    }
    if (this.inFlight >= this.settings.maxConcurrentLaunches) {
      // A slot frees when a call ends: about one RunJob round trip.
      return { ok: false, reason: 'runjob-rate', retryAfterMs: 100 };
    }
    if (this.tokens < 1) {
      return {
        ok: false,
        reason: 'runjob-rate',
        retryAfterMs: Math.ceil(((1 - this.tokens) * 60_000) / this.pacePerMinute),
      };
    }
    return undefined;
  }

  /** Takes a ticket if the budget has room now. */
  tryTake(): Ticket | Refusal {
    const now = this.nowMs();
    const refused = this.refusal(now);
    if (refused !== undefined) return refused;
    this.tokens -= 1;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return this.ticket(now);
  }

  /** Waits for a ticket until `deadlineMs` (epoch ms); undefined when none came in time. */
  async take(deadlineMs: number): Promise<Ticket | undefined> {
    return this.waitFor(deadlineMs, () => this.tryTake());
  }

  /**
   * Waits until a call may go, taking nothing, until `deadlineMs` (epoch ms); false when the
   * budget had no room in time. A drain waits here before it reads the queue, so that what
   * arrives during the wait is read too (and may join a batch).
   */
  async waitForRoom(deadlineMs: number): Promise<boolean> {
    const room = await this.waitFor(deadlineMs, () => this.refusal(this.nowMs()) ?? true);
    return room === true;
  }

  private async waitFor<T>(
    deadlineMs: number,
    attempt: () => T | Refusal,
  ): Promise<Exclude<T, Refusal> | undefined> {
    for (;;) {
      const got = attempt();
      if (!isRefusal(got)) return got as Exclude<T, Refusal>;
      const left = deadlineMs - Date.now();
      if (left <= 0 || got.retryAfterMs > left) return undefined;
      await new Promise((resolve) => setTimeout(resolve, Math.max(5, got.retryAfterMs)));
    }
  }

  private ticket(takenAtMs: number): Ticket {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      this.inFlight--;
      return true;
    };
    return {
      ok: true,
      unused: () => {
        if (!settle()) return;
        this.refill(this.nowMs());
        this.tokens = Math.min(this.settings.runJobBurst, this.tokens + 1);
      },
      launched: () => {
        if (!settle()) return;
        this.launchedCount++;
        this.backoffMs = 0;
        const full = this.settings.runJobPerMinute;
        this.pacePerMinute = Math.min(full, this.pacePerMinute + full / 10);
      },
      exhausted: (reason) => {
        if (!settle()) return;
        this.exhaustedCount++;
        // Calls already in flight when the pause began belong to the burst that caused it.
        if (takenAtMs <= this.pauseStartedMs) return;
        const now = this.nowMs();
        this.backoffMs = Math.min(
          this.settings.backoffMaxMs,
          this.backoffMs === 0 ? this.settings.backoffInitialMs : this.backoffMs * 2,
        );
        this.pauseStartedMs = now;
        this.pausedUntilMs = now + this.backoffMs;
        this.pauseReason = reason;
        this.tokens = 0;
        if (reason === 'runjob-rate') this.pacePerMinute = Math.max(1, this.pacePerMinute / 2);
      },
      failed: () => void settle(),
    };
  }

  gauge(): BudgetGauge {
    const now = this.nowMs();
    this.refill(now);
    return {
      configuredPerMinute: this.settings.runJobPerMinute,
      pacePerMinute: Math.round(this.pacePerMinute * 100) / 100,
      tokens: Math.round(this.tokens * 100) / 100,
      inFlight: this.inFlight,
      maxInFlight: this.maxInFlight,
      launched: this.launchedCount,
      exhausted: this.exhaustedCount,
      pausedForMs: this.pausedUntilMs === undefined ? 0 : Math.ceil(this.pausedUntilMs - now),
      pauseReason: this.pausedUntilMs === undefined ? null : this.pauseReason,
    };
  }
}

function isRefusal(value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;
}

/**
 * Which of Cloud Run's limits a RESOURCE_EXHAUSTED answer names. Both come with the same code, and
 * only the quota metric named in the message tells them apart.
 */
export function exhaustedReason(err: unknown): QueueReason {
  const message = errorMessage(err);
  return /running executions|running job executions/i.test(message)
    ? 'running-limit'
    : 'runjob-rate';
}
