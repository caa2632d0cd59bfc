import { randomUUID } from 'node:crypto';
import { jobDocumentId, requestDigest, type QueueReason } from '../contract/index.ts';
import {
  errorInfo,
  errorMessage,
  isRetryable,
  outcome,
  rejected,
  type Outcome,
} from '../errors/index.ts';
import type { Launcher } from '../launcher/index.ts';
import type { ClaimInput } from '../store/job-claim-document.ts';
import type { OpCount } from '../store/job-ops.ts';
import type { ExistingJob, Lease } from '../store/job-repository.ts';
import type { JobDispatchStore, JobQueueStore } from '../store/port.ts';
import type { RunBudget, Ticket } from './budget.ts';
import type { ValidDelivery } from './delivery.ts';
import type { MaxRetriesCache } from './launch-request.ts';
import type { QueueKnowledge } from './queue-knowledge.ts';
import { findStarted, startLeased, type StartResult } from './start.ts';

export interface AdmissionDeps {
  repository: JobDispatchStore;
  queue: JobQueueStore;
  launcher: Launcher;
  budget: RunBudget;
  knowledge: QueueKnowledge;
  maxRetries: MaxRetriesCache;
  leaseMs: number;
  retentionMs: number;
  /** At most this many jobs of one `concurrencyKey` hold a slot; 0 turns it off. */
  keyConcurrency: number;
  now?: () => Date;
}

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
 * Admission and the fast path for one valid delivery (DESIGN.md, "Admission and dispatch"): one
 * atomic `create()` of `jobs/R` admits the request. When it may start now — the budget has room,
 * no queue is known to be waiting for its job, its `concurrencyKey` is free — it is created
 * `dispatching` under a lease owned by this delivery and started (2 writes, 0 reads); otherwise
 * it is created `queued` with the reason and acked. From then on Firestore is the queue: nothing
 * depends on Pub/Sub redelivering the message. Every path returns an outcome; none throws.
 */
export class Admission {
  private readonly deps: AdmissionDeps;
  private readonly now: () => Date;

  constructor(deps: AdmissionDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  /** Admits (and maybe starts) the request; `deadlineMs` (epoch ms) is when the answer is due. */
  async admit(delivery: ValidDelivery, ops: OpCount, deadlineMs: number): Promise<Outcome> {
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
      return await this.admitOrThrow(input, delivery, ops, deadlineMs);
    } catch (err: unknown) {
      // Nothing was admitted, or what was is safe under its lease: Pub/Sub brings it back.
      if (err instanceof StoreError)
        return outcome('store-unavailable', { error: errorInfo(err.cause) });
      return outcome('internal', {
        error: errorInfo(err, Object.values(delivery.request.env ?? {})),
      });
    }
  }

  private async admitOrThrow(
    input: ClaimInput,
    delivery: ValidDelivery,
    ops: OpCount,
    deadlineMs: number,
  ): Promise<Outcome> {
    const { budget, knowledge, queue, repository } = this.deps;
    const job = delivery.request.job;
    // Older requests of its job wait: a newcomer must not overtake them on the fast path.
    const ticket: Ticket | { ok: false; reason: QueueReason } = knowledge.has(job)
      ? { ok: false, reason: 'runjob-rate' }
      : budget.tryTake();
    if (!ticket.ok) return this.enqueue(input, ticket.reason, delivery, ops, deadlineMs);
    let claim;
    try {
      const keyed = delivery.request.concurrencyKey !== undefined && this.deps.keyConcurrency > 0;
      claim = await store(
        keyed
          ? queue.claimKeyed(input, this.deps.keyConcurrency, ops)
          : repository.claim(input, ops),
      );
    } catch (err: unknown) {
      ticket.unused();
      throw err;
    }
    if (claim.kind === 'queued') {
      ticket.unused();
      return outcome('queued', { reason: 'concurrency-key' });
    }
    if (claim.kind === 'existing') {
      ticket.unused();
      return this.onExisting(claim.job, input, delivery, ops, deadlineMs);
    }
    return this.launchHolding(claim.lease, delivery, ticket, ops, deadlineMs);
  }

  private async enqueue(
    input: ClaimInput,
    reason: QueueReason,
    delivery: ValidDelivery,
    ops: OpCount,
    deadlineMs: number,
  ): Promise<Outcome> {
    const admitted = await store(this.deps.queue.admitQueued(input, reason, ops));
    if (admitted.kind === 'existing')
      return this.onExisting(admitted.job, input, delivery, ops, deadlineMs);
    this.deps.knowledge.add(delivery.request.job);
    return outcome('queued', { reason });
  }

  private async onExisting(
    existing: ExistingJob,
    input: ClaimInput,
    delivery: ValidDelivery,
    ops: OpCount,
    deadlineMs: number,
  ): Promise<Outcome> {
    if (existing.state === 'rejected') {
      // A rejection never holds its id: otherwise anyone could squat tomorrow's id with junk.
      const lease = await store(this.deps.repository.claimRejected(existing, input, ops));
      if (lease === undefined) return outcome('in-progress');
      const ticket = this.deps.budget.tryTake();
      if (!ticket.ok) return this.requeued(lease, ticket.reason, false, delivery, ops);
      return this.launchHolding(lease, delivery, ticket, ops, deadlineMs);
    }
    if (existing.digest !== null && existing.digest !== requestDigest(delivery.request)) {
      // Same id, other content: neither a duplicate to ack silently nor a takeover to run.
      return rejected('conflict', [
        {
          path: 'requestId',
          reason: `was admitted with other content (digest ${existing.digest.slice(0, 22)}…); this request never runs`,
        },
      ]);
    }
    if (existing.state !== 'dispatching') return outcome('duplicate', { state: existing.state });
    const live =
      existing.leaseOwner !== null &&
      existing.leaseExpiresAt !== null &&
      existing.leaseExpiresAt.getTime() > input.now.getTime();
    if (live) return outcome('in-progress');
    // A member of a batch whose drainer died: the batch document holds it, and a drain takes the
    // batch over (adopts its execution, or puts its members back in the queue). Taken over
    // alone, it could run twice: once on its own and once as its slice of the batch.
    if (existing.batchId !== null) {
      this.deps.knowledge.add(existing.job);
      return outcome('duplicate', { state: existing.state, batchId: existing.batchId });
    }
    if (existing.cancelRequested) return this.cancelOnTakeover(existing, input, delivery, ops);
    const { repository, launcher } = this.deps;
    const lease = await store(repository.takeOver(existing, input, ops));
    if (lease === undefined) return outcome('in-progress');
    // The earlier holder may have died after RunJob and before recording it: adopt, never rerun.
    let found;
    try {
      found = await findStarted(launcher, [existing.job, delivery.request.job], delivery.requestId);
    } catch (err: unknown) {
      return this.requeued(lease, 'runjob-rate', true, delivery, ops, errorInfo(err));
    }
    if (found !== undefined) {
      const record = { operationName: null, executionName: found.name, adopted: true };
      const held = await store(repository.recordDispatched(lease, record, this.now(), ops));
      return held
        ? outcome('adopted', { executionName: found.name })
        : outcome('lease-lost', { executionName: found.name });
    }
    // A cancel may have landed since the takeover read the document: look once more.
    const verdict = await store(repository.cancelIfRequested(lease, this.now(), ops));
    if (verdict === 'cancelled') return outcome('cancelled');
    if (verdict === 'lost') return outcome('lease-lost');
    const ticket = this.deps.budget.tryTake();
    if (!ticket.ok) return this.requeued(lease, ticket.reason, false, delivery, ops);
    return this.launchHolding(lease, delivery, ticket, ops, deadlineMs);
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
    const { repository, launcher } = this.deps;
    let found;
    try {
      found = await findStarted(launcher, [existing.job, delivery.request.job], delivery.requestId);
    } catch (err: unknown) {
      const info = errorInfo(err, Object.values(delivery.request.env ?? {}));
      return isRetryable(err, 'cloud-run')
        ? outcome('launch-retryable', { error: info })
        : outcome('internal', { error: info });
    }
    if (found === undefined) {
      const done = await store(repository.cancelUnlaunched(existing, this.now(), ops));
      return done ? outcome('cancelled') : outcome('in-progress');
    }
    const lease = await store(repository.takeOver(existing, input, ops));
    if (lease === undefined) return outcome('in-progress');
    const record = { operationName: null, executionName: found.name, adopted: true };
    const held = await store(repository.recordDispatched(lease, record, this.now(), ops));
    return held
      ? outcome('adopted', { executionName: found.name })
      : outcome('lease-lost', { executionName: found.name });
  }

  /** Back to the queue under our lease: admitted, so acked. */
  private async requeued(
    lease: Lease,
    reason: QueueReason,
    checkStarted: boolean,
    delivery: ValidDelivery,
    ops: OpCount,
    error?: { code: string; message: string },
  ): Promise<Outcome> {
    const held = await store(
      this.deps.repository.requeue(lease, { reason, checkStarted }, this.now(), ops),
    );
    if (!held) return outcome('lease-lost');
    this.deps.knowledge.add(delivery.request.job);
    return outcome('queued', { reason, ...(error ? { error } : {}) });
  }

  private async launchHolding(
    lease: Lease,
    delivery: ValidDelivery,
    ticket: Ticket,
    ops: OpCount,
    deadlineMs: number,
  ): Promise<Outcome> {
    if (Date.now() >= deadlineMs) {
      // Starting now could outlive the answer: the drainer starts it instead.
      ticket.unused();
      return this.requeued(lease, 'runjob-rate', false, delivery, ops);
    }
    const { repository, launcher, maxRetries } = this.deps;
    const result: StartResult = await store(
      startLeased(
        { repository, launcher, maxRetries, now: this.now },
        { lease, requestId: delivery.requestId, request: delivery.request },
        ticket,
        ops,
      ),
    );
    switch (result.kind) {
      case 'dispatched':
        return outcome('dispatched', { executionName: result.executionName });
      case 'adopted':
        return outcome('adopted', { executionName: result.executionName });
      case 'requeued':
        this.deps.knowledge.add(delivery.request.job);
        return outcome('queued', { reason: result.reason, error: result.error });
      case 'failed':
        return outcome('launch-failed', { error: result.error });
      case 'lease-lost':
        return outcome(
          'lease-lost',
          result.executionName ? { executionName: result.executionName } : undefined,
        );
    }
  }
}
