import {
  FieldValue,
  type DocumentData,
  type DocumentReference,
  type DocumentSnapshot,
  type Timestamp,
  type UpdateData,
} from '@google-cloud/firestore';
import type { ErrorInfo, JobDocument, JobState, QueueReason } from '../contract/index.ts';
import { grpcError, isAlreadyExists, isPreconditionFailure, status } from '../errors/index.ts';
import {
  claimDocument,
  LEASE_CLEARED,
  leaseTaken,
  pendingRequestOf,
  rejectedDocument,
  requestFields,
  type ClaimInput,
  type RejectionInput,
} from './job-claim-document.ts';
import { JobCollection } from './job-collection.ts';
import type { OpCount } from './job-ops.ts';
import type { ClaimResult, DispatchRecord, ExistingJob, JobDispatchStore, Lease } from './port.ts';

export type { ClaimResult, DispatchRecord, ExistingJob, Lease };

/** Fields to update, dotted paths allowed (`dispatch.leaseOwner`). */
type Patch = UpdateData<DocumentData>;

/** The job document as the dispatch protocol reads it. */
export function existingJob(docId: string, snap: DocumentSnapshot): ExistingJob {
  const data: (Partial<JobDocument> & Record<string, unknown>) | undefined = snap.data();
  const expires = data?.dispatch?.leaseExpiresAt as unknown as Timestamp | null | undefined;
  return {
    docId,
    state: data?.state ?? 'dispatching',
    job: data?.job ?? '',
    leaseOwner: data?.dispatch?.leaseOwner ?? null,
    leaseExpiresAt: expires ? expires.toDate() : null,
    attempts: data?.dispatch?.attempts ?? 0,
    cancelRequested: data?.cancelRequested === true,
    digest: typeof data?.digest === 'string' ? data.digest : null,
    batchId: typeof data?.dispatch?.batchId === 'string' ? data.dispatch.batchId : null,
    rejection:
      data?.state === 'rejected'
        ? {
            error: data.error ?? null,
            issues: Array.isArray(data.issues) ? data.issues : [],
            source: data.source ?? null,
            at: snap.updateTime?.toDate() ?? new Date(0),
          }
        : null,
    updateTime: snap.updateTime as Timestamp,
  };
}

/**
 * Creates the job document `doc` at `ref` (1 write) or, when its id exists already, reads the
 * document there (1 read). `during` names the step for the error when that document was deleted
 * between the two calls (TTL): the next delivery starts afresh.
 */
export async function createOrRead(
  ref: DocumentReference,
  doc: JobDocument,
  ops: OpCount,
  during: string,
): Promise<{ kind: 'created'; writeTime: Timestamp } | { kind: 'existing'; job: ExistingJob }> {
  try {
    ops.writes++;
    const result = await ref.create(doc);
    return { kind: 'created', writeTime: result.writeTime };
  } catch (err: unknown) {
    if (!isAlreadyExists(err)) throw err;
  }
  ops.reads++;
  const snap = await ref.get();
  if (!snap.exists) throw grpcError(status.ABORTED, `job document vanished during ${during}`);
  return { kind: 'existing', job: existingJob(ref.id, snap) };
}

/** A job (a single request or a batch member) whose launch failed for good: ended `failed`. */
export function launchFailedPatch(error: ErrorInfo, now: Date): Patch {
  return {
    state: 'failed',
    error,
    ...LEASE_CLEARED,
    pendingRequest: FieldValue.delete(),
    finishedAt: now,
    updatedAt: now,
  };
}

/** A job that was never launched, ended by a cancel. */
export function cancelledPatch(now: Date): Patch {
  return {
    state: 'cancelled',
    error: { code: 'cancelled', message: 'cancelled before dispatch' },
    ...LEASE_CLEARED,
    pendingRequest: FieldValue.delete(),
    finishedAt: now,
    updatedAt: now,
  };
}

/**
 * The execution a job (a single request, or a batch member) was started in, lease cleared. A
 * worker of this very execution may already have moved the job on (running, …), so only a job
 * still `dispatching` becomes `dispatched`. Started: the job document drops its pending request
 * and env values (a batch member's request lives on in the batch document).
 */
export function dispatchedPatch(state: string, record: DispatchRecord, now: Date): Patch {
  return {
    ...(state === 'dispatching' ? { state: 'dispatched' } : {}),
    ...LEASE_CLEARED,
    'dispatch.operationName': record.operationName,
    'dispatch.executionName': record.executionName,
    'dispatch.adopted': record.adopted,
    pendingRequest: FieldValue.delete(),
    dispatchedAt: now,
    updatedAt: now,
  };
}

/**
 * The Firestore side of the dedup-and-dispatch protocol on `jobs/{id}`. A fresh request costs
 * two writes and no read: an atomic `create()` claims it, and an update preconditioned on the
 * claim's own write time records the dispatch. Reads happen only when a claim fails or a
 * precondition does (someone else wrote). Every call counts its operations into `ops`.
 */
export class JobRepository extends JobCollection implements JobDispatchStore {
  /** Creates the `dispatching` document with our lease, or reads the one already there. */
  async claim(input: ClaimInput, ops: OpCount): Promise<ClaimResult> {
    const made = await createOrRead(this.ref(input.docId), claimDocument(input), ops, 'claim');
    if (made.kind === 'existing') return made;
    return {
      kind: 'claimed',
      lease: { docId: input.docId, owner: input.owner, writeTime: made.writeTime },
    };
  }

  /**
   * Takes over an expired lease, only if nobody wrote since `existing` was read; undefined when
   * another delivery got there first. The request fields are those of this delivery (env values
   * are never stored, so a takeover launches with what it was given).
   */
  async takeOver(
    existing: ExistingJob,
    input: ClaimInput,
    ops: OpCount,
  ): Promise<Lease | undefined> {
    const update: Patch = {
      ...requestFields(input.request),
      pendingRequest: pendingRequestOf(input.request),
      source: input.source,
      ...leaseTaken(
        input.owner,
        new Date(input.now.getTime() + input.leaseMs),
        existing.attempts + 1,
        input.now,
      ),
    };
    try {
      ops.writes++;
      const result = await this.ref(existing.docId).update(update, {
        lastUpdateTime: existing.updateTime,
      });
      return { docId: existing.docId, owner: input.owner, writeTime: result.writeTime };
    } catch (err: unknown) {
      if (isPreconditionFailure(err)) return undefined;
      throw err;
    }
  }

  /**
   * Claims the id of a `rejected` document for a valid request, only if nobody wrote since
   * `existing` was read: a rejection never holds its id. The document becomes a fresh claim;
   * what was rejected stays in `rejection`. Undefined when another delivery got there first.
   */
  async claimRejected(
    existing: ExistingJob,
    input: ClaimInput,
    ops: OpCount,
  ): Promise<Lease | undefined> {
    try {
      ops.writes++;
      const result = await this.ref(existing.docId).update(
        { ...claimDocument(input), issues: [], rejection: existing.rejection },
        { lastUpdateTime: existing.updateTime },
      );
      return { docId: existing.docId, owner: input.owner, writeTime: result.writeTime };
    } catch (err: unknown) {
      if (isPreconditionFailure(err)) return undefined;
      throw err;
    }
  }

  /** Records `dispatched` with the execution, only while `lease` is ours. False when lost. */
  recordDispatched(
    lease: Lease,
    record: DispatchRecord,
    now: Date,
    ops: OpCount,
  ): Promise<boolean> {
    return this.whileLeased(lease, ops, (state) => dispatchedPatch(state, record, now));
  }

  /** Gives the lease up after a retryable error, so the redelivery can take over at once. */
  async release(lease: Lease, now: Date, ops: OpCount): Promise<void> {
    await this.whileLeased(lease, ops, (state) =>
      state === 'dispatching' ? { ...LEASE_CLEARED, updatedAt: now } : undefined,
    );
  }

  /**
   * Puts a leased `dispatching` job (back) in the queue after a retryable launch error, with the
   * reason it waits. `checkStarted` when the failed call may still have started an execution
   * (an ambiguous error): the dispatcher then looks for it before starting another. Keeps the
   * original `queuedAt` when the job was queued before, so it does not lose its place.
   */
  async requeue(
    lease: Lease,
    queue: { reason: QueueReason; checkStarted: boolean; queuedAt?: Date },
    now: Date,
    ops: OpCount,
  ): Promise<boolean> {
    return this.whileLeased(lease, ops, (state) =>
      state === 'dispatching'
        ? {
            state: 'queued',
            queue: {
              reason: queue.reason,
              queuedAt: queue.queuedAt ?? now,
              checkStarted: queue.checkStarted,
            },
            ...LEASE_CLEARED,
            updatedAt: now,
          }
        : undefined,
    );
  }

  /** Records a permanent launch failure as `failed`, only while `lease` is ours. */
  recordFailed(lease: Lease, error: ErrorInfo, now: Date, ops: OpCount): Promise<boolean> {
    return this.whileLeased(lease, ops, (state) =>
      state === 'dispatching' ? launchFailedPatch(error, now) : undefined,
    );
  }

  /**
   * Ends a job that was never launched as `cancelled`, only if nobody wrote since `existing` was
   * read (its lease expired, so no delivery may launch it). False when someone got there first.
   */
  async cancelUnlaunched(existing: ExistingJob, now: Date, ops: OpCount): Promise<boolean> {
    try {
      ops.writes++;
      await this.ref(existing.docId).update(cancelledPatch(now), {
        lastUpdateTime: existing.updateTime,
      });
      return true;
    } catch (err: unknown) {
      if (isPreconditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * The last look before RunJob on a path where a cancel may have landed after our lease was
   * written (a takeover, a queued job): `go` while the lease is ours and no cancel is asked for;
   * `cancelled` after ending the job so, in the same transaction; `lost` when the lease is gone.
   */
  cancelIfRequested(lease: Lease, now: Date, ops: OpCount): Promise<'go' | 'cancelled' | 'lost'> {
    const ref = this.ref(lease.docId);
    return this.firestore.runTransaction(async (tx) => {
      ops.reads++;
      const snap = await tx.get(ref);
      const current = existingJob(lease.docId, snap);
      if (!snap.exists || current.leaseOwner !== lease.owner) return 'lost';
      if (!current.cancelRequested) return 'go';
      ops.writes++;
      tx.update(ref, cancelledPatch(now));
      return 'cancelled';
    });
  }

  /** Records a rejected request; a document already there (any state) is left as it is. */
  async recordRejected(input: RejectionInput, ops: OpCount): Promise<void> {
    try {
      ops.writes++;
      await this.ref(input.docId).create(rejectedDocument(input));
    } catch (err: unknown) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  /**
   * Applies `change(state)` if the lease is still ours. Fast path: an update preconditioned on
   * our own last write time (no read). If anyone wrote since — a worker reporting progress, or a
   * takeover — a transaction reads the document and writes only if the lease owner is still us.
   */
  private async whileLeased(
    lease: Lease,
    ops: OpCount,
    change: (state: JobState) => Patch | undefined,
  ): Promise<boolean> {
    const ref = this.ref(lease.docId);
    const fast = change('dispatching');
    if (fast !== undefined) {
      try {
        ops.writes++;
        await ref.update(fast, { lastUpdateTime: lease.writeTime });
        return true;
      } catch (err: unknown) {
        if (!isPreconditionFailure(err)) throw err;
      }
    }
    return this.firestore.runTransaction(async (tx) => {
      ops.reads++;
      const snap = await tx.get(ref);
      const current = existingJob(lease.docId, snap);
      if (!snap.exists || current.leaseOwner !== lease.owner) return false;
      const update = change(current.state);
      if (update === undefined) return false;
      ops.writes++;
      tx.update(ref, update);
      return true;
    });
  }
}
