import { randomUUID } from 'node:crypto';
import { BRIDGE_EXECUTION_ENV, jobDocumentId } from '../contract/index.ts';
import {
  errorInfo,
  errorMessage,
  isRetryable,
  outcome,
  type Outcome,
  type OutcomeCode,
} from '../errors/index.ts';
import type { Launcher } from '../launcher/index.ts';
import type { ClaimInput } from '../store/job-claim-document.ts';
import type { OpCount } from '../store/job-ops.ts';
import type { ExistingJob, Lease } from '../store/job-repository.ts';
import type { JobDispatchStore, JobQueueStore } from '../store/port.ts';
import type { ValidDelivery } from './delivery.ts';
import { launchRequest, MaxRetriesCache } from './launch-request.ts';
import type { LaunchLimiter } from './limiter.ts';

/** The points of the protocol where a crash is most dangerous (tests kill the bridge there). */
export type CrashPoint = 'after-claim' | 'after-launch';

export interface DispatcherDeps {
  repository: JobDispatchStore;
  launcher: Launcher;
  leaseMs: number;
  retentionMs: number;
  /** The instance's backpressure; without it nothing is limited. */
  limiter?: LaunchLimiter;
  /**
   * Per-key concurrency: a request with a `concurrencyKey` is claimed through the queue, at most
   * `keyConcurrency` of one key active at once (0 or absent: keys are not limited).
   */
  keyed?: { queue: JobQueueStore; keyConcurrency: number };
  now?: () => Date;
  /** Called at each crash point; only the test fault hook does anything there. */
  fault?: (point: CrashPoint) => void;
}

/** Outcomes that certainly made no RunJob call: their token goes back to the bucket. */
const NO_LAUNCH: ReadonlySet<OutcomeCode> = new Set([
  'duplicate',
  'in-progress',
  'adopted',
  'cancelled',
  'queued',
  'rate-limited',
]);

/** A Firestore failure: never the request's fault, so always worth a redelivery. */
class StoreError extends Error {
  override readonly name = 'StoreError';
}

async function store<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err: unknown) {
    throw new StoreError(`firestore: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * The dedup-and-dispatch protocol of DESIGN.md for one valid delivery: claim the request id with
 * a lease, start at most one execution, record it while still holding the lease. Every path
 * returns an outcome; none throws.
 */
export class Dispatcher {
  private readonly deps: DispatcherDeps;
  private readonly maxRetries: MaxRetriesCache;
  private readonly now: () => Date;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.maxRetries = new MaxRetriesCache(deps.launcher);
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Runs the protocol; `deadlineMs` (epoch ms) is when the answer is due. Over the instance's
   * limits it answers `rate-limited` before claiming anything, so Pub/Sub keeps the message.
   */
  async dispatch(delivery: ValidDelivery, ops: OpCount, deadlineMs: number): Promise<Outcome> {
    const admission = this.deps.limiter?.tryAcquire();
    if (admission && !admission.ok) {
      return outcome('rate-limited', {
        limit: admission.limit,
        retryAfterMs: admission.retryAfterMs,
      });
    }
    let result: Outcome | undefined;
    try {
      result = await this.dispatchAdmitted(delivery, ops, deadlineMs);
      return result;
    } finally {
      admission?.permit.release(result === undefined || !NO_LAUNCH.has(result.code));
    }
  }

  private async dispatchAdmitted(
    delivery: ValidDelivery,
    ops: OpCount,
    deadlineMs: number,
  ): Promise<Outcome> {
    const input: ClaimInput = {
      docId: jobDocumentId(delivery.requestId),
      requestId: delivery.requestId,
      request: delivery.request,
      source: delivery.source,
      owner: randomUUID(),
      now: this.now(),
      leaseMs: this.deps.leaseMs,
      retentionMs: this.deps.retentionMs,
    };
    try {
      // `queued` and `key-busy` end the delivery without a launch; a request without a key (or
      // with keys unlimited) takes the plain two-write claim.
      const { keyed: keys } = this.deps;
      const keyed =
        keys && keys.keyConcurrency > 0 && input.request.concurrencyKey !== undefined
          ? await store(keys.queue.claimKeyed(input, keys.keyConcurrency, ops))
          : undefined;
      if (keyed?.kind === 'queued') return outcome('queued');
      if (keyed?.kind === 'key-busy') {
        // Its env values are never stored, so it cannot wait as `queued`: Pub/Sub keeps it.
        return outcome('rate-limited', { limit: 'concurrency-key', running: keyed.running });
      }
      const claim = keyed ?? (await store(this.deps.repository.claim(input, ops)));
      if (claim.kind === 'claimed') {
        return await this.launchHolding(claim.lease, delivery, ops, deadlineMs);
      }
      return await this.onExisting(claim.job, input, delivery, ops, deadlineMs);
    } catch (err: unknown) {
      if (err instanceof StoreError)
        return outcome('store-unavailable', { error: errorInfo(err.cause) });
      const secrets = Object.values(delivery.request.env ?? {});
      return outcome('internal', { error: errorInfo(err, secrets) });
    }
  }

  private async onExisting(
    existing: ExistingJob,
    input: ClaimInput,
    delivery: ValidDelivery,
    ops: OpCount,
    deadlineMs: number,
  ): Promise<Outcome> {
    if (existing.state !== 'dispatching') return outcome('duplicate', { state: existing.state });
    const live =
      existing.leaseOwner !== null &&
      existing.leaseExpiresAt !== null &&
      existing.leaseExpiresAt.getTime() > input.now.getTime();
    if (live) return outcome('in-progress');
    if (existing.cancelRequested) return this.cancelOnTakeover(existing, input, delivery, ops);
    const lease = await store(this.deps.repository.takeOver(existing, input, ops));
    if (lease === undefined) return outcome('in-progress');
    // The earlier holder may have died after runJob and before recording it: adopt, never rerun.
    let found;
    try {
      found = await this.findStarted(existing, delivery);
    } catch (err: unknown) {
      return this.onLaunchError(lease, err, delivery, ops);
    }
    if (found !== undefined) {
      const record = { operationName: null, executionName: found.name, adopted: true };
      const held = await store(
        this.deps.repository.recordDispatched(lease, record, this.now(), ops),
      );
      return held
        ? outcome('adopted', { executionName: found.name })
        : outcome('lease-lost', { executionName: found.name });
    }
    // A cancel may have landed since the takeover read the document: look once more.
    const verdict = await store(this.deps.repository.cancelIfRequested(lease, this.now(), ops));
    if (verdict === 'cancelled') return outcome('cancelled');
    if (verdict === 'lost') return outcome('lease-lost');
    return this.launchHolding(lease, delivery, ops, deadlineMs);
  }

  /**
   * An abandoned `dispatching` job whose cancel was asked for: never launch it. If the earlier
   * holder did start an execution, adopt it so the reconciler cancels it (it cancels
   * `dispatched` jobs with `cancelRequested`); otherwise end the job `cancelled`.
   */
  private async cancelOnTakeover(
    existing: ExistingJob,
    input: ClaimInput,
    delivery: ValidDelivery,
    ops: OpCount,
  ): Promise<Outcome> {
    let found;
    try {
      found = await this.findStarted(existing, delivery);
    } catch (err: unknown) {
      const info = errorInfo(err, Object.values(delivery.request.env ?? {}));
      return isRetryable(err, 'cloud-run')
        ? outcome('launch-retryable', { error: info })
        : outcome('internal', { error: info });
    }
    if (found === undefined) {
      const done = await store(this.deps.repository.cancelUnlaunched(existing, this.now(), ops));
      return done ? outcome('cancelled') : outcome('in-progress');
    }
    const lease = await store(this.deps.repository.takeOver(existing, input, ops));
    if (lease === undefined) return outcome('in-progress');
    const record = { operationName: null, executionName: found.name, adopted: true };
    const held = await store(this.deps.repository.recordDispatched(lease, record, this.now(), ops));
    return held
      ? outcome('adopted', { executionName: found.name })
      : outcome('lease-lost', { executionName: found.name });
  }

  /** An execution an earlier delivery started for this request id, if any. */
  private async findStarted(existing: ExistingJob, delivery: ValidDelivery) {
    return (
      await Promise.all(
        [...new Set([existing.job, delivery.request.job].filter((j) => j !== ''))].map((job) =>
          this.deps.launcher.findExecutionsByEnv(
            job,
            BRIDGE_EXECUTION_ENV.requestId,
            delivery.requestId,
          ),
        ),
      )
    ).flat()[0];
  }

  private async launchHolding(
    lease: Lease,
    delivery: ValidDelivery,
    ops: OpCount,
    deadlineMs: number,
  ): Promise<Outcome> {
    this.deps.fault?.('after-claim');
    let launched;
    try {
      const maxRetries = await this.maxRetries.get(delivery.request.job);
      if (Date.now() >= deadlineMs) {
        // Starting now could outlive the answer: give the request id back instead.
        await store(this.deps.repository.release(lease, this.now(), ops));
        return outcome('budget-exceeded');
      }
      const ids = { requestId: delivery.requestId, docId: lease.docId, maxRetries };
      launched = await this.deps.launcher.launch(launchRequest(delivery.request, ids));
    } catch (err: unknown) {
      if (err instanceof StoreError) throw err;
      return this.onLaunchError(lease, err, delivery, ops);
    }
    this.deps.fault?.('after-launch');
    const record = { ...launched, adopted: false };
    // If this write fails the execution still runs: the redelivery takes over and adopts it.
    const held = await store(this.deps.repository.recordDispatched(lease, record, this.now(), ops));
    return held
      ? outcome('dispatched', { executionName: launched.executionName })
      : outcome('lease-lost', { executionName: launched.executionName });
  }

  private async onLaunchError(
    lease: Lease,
    err: unknown,
    delivery: ValidDelivery,
    ops: OpCount,
  ): Promise<Outcome> {
    const info = errorInfo(err, Object.values(delivery.request.env ?? {}));
    if (isRetryable(err, 'cloud-run')) {
      await store(this.deps.repository.release(lease, this.now(), ops));
      return outcome('launch-retryable', { error: info });
    }
    const held = await store(this.deps.repository.recordFailed(lease, info, this.now(), ops));
    return held ? outcome('launch-failed', { error: info }) : outcome('lease-lost');
  }
}
