/**
 * The store's port: every operation on the Firestore documents of jobs (`jobs/{id}`) that the
 * dispatch protocol and the reconciler use. Nothing outside `src/store/` writes these documents.
 *
 * Conventions for every operation below:
 * - Costs are Firestore operations per call (what the bill and the 1-write/s-per-document limit
 *   see); operations that take an `OpCount` add theirs to it, for the delivery's log line.
 * - "Fenced" means the write carries a precondition (the document's update time as we last saw
 *   it, or a transaction re-reading it), so it never overwrites a write it has not seen: a lease
 *   taken over, a worker's newer state, a cancel.
 * - A `false` / `undefined` / `lost` answer is the normal "someone else got there first" and is
 *   never an error. Anything thrown is a Firestore error (a gRPC-coded error from the client:
 *   UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED after the client's own retries of contention, ...),
 *   which `isRetryable(err, 'firestore')` classifies; nothing is half-written when it throws.
 */
import type { ErrorInfo, JobDocument, JobRequest } from '../contract/index.ts';
import type { ClaimInput, RejectionInput } from './job-claim-document.ts';
import type { OpCount } from './job-ops.ts';
import type { ClaimResult, DispatchRecord, ExistingJob, Lease } from './job-repository.ts';
import type { JobView } from './job-view.ts';
import type { StaleTask } from './task-evidence.ts';

/** The claim-and-lease side of the dispatch protocol (implemented by `JobRepository`). */
export interface JobDispatchStore {
  /**
   * Creates `jobs/{docId}` as `dispatching` with a lease owned by `input.owner`, atomically
   * (`create()`), or reads the document already there. Exactly one of any number of concurrent
   * claims of one id gets `claimed`. Cost: 1 write; 1 write + 1 read when the document exists.
   * Throws ABORTED when the document vanished between the two (TTL): the caller retries.
   */
  claim(input: ClaimInput, ops: OpCount): Promise<ClaimResult>;
  /**
   * Takes over the expired lease of `existing`, fenced on the update time it was read at; the
   * stored request fields become this delivery's. Undefined when anyone wrote since. Cost: 1 write.
   */
  takeOver(existing: ExistingJob, input: ClaimInput, ops: OpCount): Promise<Lease | undefined>;
  /**
   * Records `dispatched` with the execution and clears the lease, only while `lease` is ours
   * (a worker of that execution may already have moved the state on: it is kept). False when
   * the lease was lost. Cost: 1 write; +1 read when another write (progress) came in between.
   */
  recordDispatched(lease: Lease, record: DispatchRecord, now: Date, ops: OpCount): Promise<boolean>;
  /** Clears our lease on a `dispatching` job (a retryable error). Cost as `recordDispatched`. */
  release(lease: Lease, now: Date, ops: OpCount): Promise<void>;
  /** Puts a promoted job back to `queued` and clears our lease. Cost as `recordDispatched`. */
  requeue(lease: Lease, now: Date, ops: OpCount): Promise<void>;
  /** Ends a `dispatching` job `failed` with `error`, while the lease is ours. Cost as above. */
  recordFailed(lease: Lease, error: ErrorInfo, now: Date, ops: OpCount): Promise<boolean>;
  /**
   * Ends an abandoned, never-launched job `cancelled`, fenced on the update time `existing` was
   * read at. False when anyone wrote since. Cost: 1 write.
   */
  cancelUnlaunched(existing: ExistingJob, now: Date, ops: OpCount): Promise<boolean>;
  /**
   * The last look before RunJob: `go` while the lease is ours and no cancel is asked for,
   * `cancelled` after ending the job so in the same transaction, `lost` without the lease.
   * Cost: 1 read; +1 write when cancelled.
   */
  cancelIfRequested(lease: Lease, now: Date, ops: OpCount): Promise<'go' | 'cancelled' | 'lost'>;
  /** Creates the `rejected` document; one already there (any state) is left alone. Cost: 1 write. */
  recordRejected(input: RejectionInput, ops: OpCount): Promise<void>;
}

/** What a keyed claim did. */
export type KeyedClaimResult =
  | ClaimResult
  /** Created `queued`: the key had no room and the document alone can start it later. */
  | { kind: 'queued' }
  /** Nothing written: the key had no room and the request cannot wait as a document. */
  | { kind: 'key-busy'; running: number };

/** One step of draining a key's queue. */
export type Promotion =
  | { kind: 'none' }
  | { kind: 'cancelled'; docId: string }
  | { kind: 'vanished'; docId: string }
  | { kind: 'promoted'; lease: Lease; requestId: string; request: JobRequest };

/** Per-key concurrency and the queue of `queued` jobs (implemented by `JobQueue`). */
export interface JobQueueStore {
  /**
   * For a request with a `concurrencyKey`: in one transaction with a count() of the key's active
   * jobs, creates the document `dispatching` with our lease when the key has room, `queued` when
   * it has none, or nothing (`key-busy`) when the request cannot be rebuilt from its document.
   * Two claims of one key never both take its last slot. Cost: 2 reads + 1 write, +1 read for
   * the lease's write time when claimed.
   */
  claimKeyed(input: ClaimInput, keyConcurrency: number, ops: OpCount): Promise<KeyedClaimResult>;
  /**
   * Moves the oldest `queued` job of `key` to `dispatching` with a lease for `owner`, in a
   * transaction that re-counts the key (none while it has no room); a queued job with a cancel
   * asked for is ended `cancelled` instead. Concurrent drainers promote each job once.
   * Cost: 2 reads + 1 write, +1 read for the lease's write time.
   */
  promote(
    key: string,
    keyConcurrency: number,
    owner: string,
    at: Date,
    leaseMs: number,
  ): Promise<Promotion>;
  /** The keys among the `scanLimit` oldest queued jobs. Cost: up to `scanLimit` reads. */
  queuedKeys(scanLimit: number): Promise<string[]>;
}

/** One reconcile page: the two queries' results as views, and whether each was full. */
export interface ReconcilePage {
  cancels: JobView[];
  cancelsFull: boolean;
  stale: JobView[];
  staleFull: boolean;
}

/** What Cloud Run says of an execution that has ended, as the job records it. */
export interface EndedExecution {
  state: 'succeeded' | 'failed' | 'cancelled';
  error: ErrorInfo | null;
  executionName: string;
  succeededCount: number;
  failedCount: number;
  completionTime?: Date | null;
  startTime?: Date | null;
}

/** A task's end as Cloud Run reports it, for a task document the workers left behind. */
export interface TaskEnd {
  taskIndex: number;
  /** Cloud Run's last attempt of the task. */
  attempt: number;
  state: 'succeeded' | 'failed';
  error: ErrorInfo | null;
  /** When Cloud Run says the task ended. */
  finishedAt: Date;
  execution: string;
}

export interface StaleHeartbeat {
  taskIndexes: number[];
  oldestHeartbeatAt: Date | null;
  checkedAt: Date;
}

/**
 * The reconciler's side (implemented by `JobReconciles`). Every write is guarded: a transaction
 * re-reads the job and writes only if it is still in the state the decision was based on (never
 * terminal, the transition allowed by the contract, the same lease where it says so). False is
 * "raced": someone newer wrote. Cost of each write: 1 read + 1 write.
 */
export interface JobReconcileStore {
  /**
   * Up to `pageSize` jobs with a cancel asked for and up to `pageSize` active jobs not written
   * since `cutoff`, each after the position in `after`. Cost: up to 2 × `pageSize` reads (1 when
   * both are empty).
   */
  page(
    cutoff: Date,
    pageSize: number,
    after: { cancel?: string; stale?: { updatedAtMs: number; docId: string } },
  ): Promise<ReconcilePage>;
  /** The job as the reconciler reads it, undefined when absent. Cost: 1 read. */
  read(docId: string): Promise<JobView | undefined>;
  /** Creates an ended document (a dead letter never claimed); false when one exists. 1 write. */
  createEnded(docId: string, doc: JobDocument): Promise<boolean>;
  /** Ends a job that was never launched (`queued` or `dispatching`), on the same lease. */
  endUnlaunched(
    view: JobView,
    to: 'failed' | 'cancelled',
    error: ErrorInfo,
    now: Date,
  ): Promise<boolean>;
  /** Records the execution a dead delivery started: `dispatching → dispatched`, same lease. */
  recordAdopted(view: JobView, executionName: string, now: Date): Promise<boolean>;
  /** Ends a job `failed` whose execution is gone from Cloud Run. */
  recordExecutionMissing(view: JobView, error: ErrorInfo, now: Date): Promise<boolean>;
  /** Ends a job as its ended execution says, with Cloud Run's task counts. */
  recordExecutionEnded(view: JobView, ended: EndedExecution, now: Date): Promise<boolean>;
  /** Notes that CancelExecution was sent. */
  recordCancelSent(view: JobView, now: Date): Promise<boolean>;
  /** Notes a heartbeat check (and which running tasks went silent), without a state change. */
  recordHeartbeatCheck(view: JobView, stale: StaleHeartbeat | null, now: Date): Promise<boolean>;
  /** What the workers left behind, in words. Cost: up to 50 reads. */
  workerEvidence(docId: string): Promise<string>;
  /**
   * Moves task documents to the end Cloud Run reports when the workers did not write it: a
   * missing document, or one left `running` (at an older or the same attempt). A recorded end
   * of the same or a newer attempt, and any `succeeded`, is left alone. Returns the task indexes
   * written. Cost: 1 read + at most 1 write per task.
   */
  recordTaskEnds(docId: string, ends: TaskEnd[], now: Date): Promise<number[]>;
  /** Running tasks whose heartbeat is older than `cutoff`. Cost: up to 100 reads. */
  staleTasks(docId: string, cutoff: Date): Promise<StaleTask[]>;
}
