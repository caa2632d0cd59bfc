import type { TaskProgress } from '../contract/documents.ts';
import type { Logger } from '../log.ts';

/** Where progress goes: the task document in production (TaskWriter), anything in tests. */
export interface ProgressSink {
  /** Writes progress and refreshes the heartbeat. May throw; the writer retries. */
  progress(progress: TaskProgress): Promise<void>;
}

export interface ProgressWriterOptions {
  sink: ProgressSink;
  log: Logger;
  /** At most one write per this many ms (JOBBRIDGE_PROGRESS_INTERVAL_MS). */
  intervalMs: number;
  /** While no progress is reported, the last value is rewritten this often (the heartbeat). */
  heartbeatIntervalMs: number;
  /** Whether a sink error is worth retrying; others drop that value (the next report retries). */
  isRetryable(err: unknown): boolean;
  /** Whether a sink error means this attempt lost the document (fenced): writing stops. */
  isFenced(err: unknown): boolean;
  initial?: TaskProgress;
  now?: () => number;
}

const MAX_BACKOFF_MS = 30_000;

/**
 * Coalesces progress reports into at most one write per interval: `report()` only records the
 * latest value and arms a timer, so it is synchronous and costs no I/O; the latest value wins.
 * Write errors never reach the function: transient ones are retried with exponential backoff.
 * The final value lands with the task's terminal write (`stop()` hands it over).
 */
export class ProgressWriter {
  readonly #o: ProgressWriterOptions;
  readonly #now: () => number;
  #latest: TaskProgress;
  #dirty = false;
  #lastWriteAt = Number.NEGATIVE_INFINITY;
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;
  fenced = false;
  /** Writes attempted (successful or not): what the "≤ 1 per interval" figure counts. */
  writes = 0;

  constructor(options: ProgressWriterOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#latest = options.initial ?? { done: 0, total: 0, ratio: 0, message: null };
    this.#heartbeat = setInterval(() => this.#onHeartbeat(), options.heartbeatIntervalMs);
    this.#heartbeat.unref();
  }

  /** The latest reported value. */
  get latest(): TaskProgress {
    return this.#latest;
  }

  /** Records the latest value; a write follows within the interval. Synchronous, never throws. */
  report(progress: TaskProgress): void {
    if (this.#stopped) return;
    this.#latest = progress;
    this.#dirty = true;
    if (this.#timer === undefined && this.#inFlight === undefined) this.#arm(this.#nextDelay());
  }

  /** Stops writing and waits for a write in flight; returns the latest value for the final write. */
  async stop(): Promise<TaskProgress> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
    this.#timer = undefined;
    await this.#inFlight;
    return this.#latest;
  }

  #nextDelay(): number {
    const backoff =
      this.#failures > 0 ? Math.min(MAX_BACKOFF_MS, 200 * 2 ** (this.#failures - 1)) : 0;
    const byInterval = this.#lastWriteAt + this.#o.intervalMs - this.#now();
    return Math.max(0, byInterval, backoff);
  }

  #arm(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flushOnce();
    }, delayMs);
  }

  #onHeartbeat(): void {
    if (this.#stopped || this.#inFlight || this.#timer) return;
    if (this.#now() - this.#lastWriteAt < this.#o.heartbeatIntervalMs) return;
    this.#dirty = true;
    this.#flushOnce();
  }

  #flushOnce(): void {
    if (this.#stopped || this.fenced || !this.#dirty) return;
    const value = this.#latest;
    this.#dirty = false;
    this.#lastWriteAt = this.#now();
    this.writes++;
    this.#inFlight = this.#o.sink.progress(value).then(
      () => {
        this.#failures = 0;
      },
      (err: unknown) => this.#onError(err),
    );
    void this.#inFlight.finally(() => {
      this.#inFlight = undefined;
      if (this.#dirty && !this.#stopped && !this.fenced && this.#timer === undefined)
        this.#arm(this.#nextDelay());
    });
  }

  #onError(err: unknown): void {
    if (this.#o.isFenced(err)) {
      this.fenced = true;
      this.#o.log.warn(
        { err },
        'progress: a newer attempt owns the task document; progress writes stop',
      );
      return;
    }
    this.#failures++;
    // The value that failed is re-sent unless a newer one has arrived (latest wins).
    this.#dirty = true;
    const retryable = this.#o.isRetryable(err);
    this.#o.log.warn(
      { err, failures: this.#failures, retryable },
      'progress write failed; retrying with backoff',
    );
  }
}
