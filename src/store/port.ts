/**
 * The store's port: every operation on the Firestore documents of jobs (`jobs/{id}`) and batches
 * (`batches/{id}`) that the dispatch protocol and the reconciler use. Nothing outside
 * `src/store/` writes these documents.
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
import type { Timestamp } from '@google-cloud/firestore';
import type {
  BatchContent,
  BatchMember,
  ErrorInfo,
  JobDocument,
  JobState,
  QueueReason,
} from '../contract/index.ts';
import type { ClaimInput, RejectionInput } from './job-claim-document.ts';
import type { OpCount } from './job-ops.ts';
import type { JobView } from './job-view.ts';
import type { StaleTask } from './task-evidence.ts';

/** A lease this delivery holds, fenced by the update time of its own last write. */
export interface Lease {
  docId: string;
  owner: string;
  /** The document's update time right after our write: a later write by anyone else moves it. */
  writeTime: Timestamp;
}

/** The job document as a failed claim found it. */
export interface ExistingJob {
  docId: string;
  state: JobState;
  job: string;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  attempts: number;
  /** `jobbridge cancel` asked for it: a job not yet launched must never be. */
  cancelRequested: boolean;
  /** The content digest stored at admission; null for documents written before digests. */
  digest: string | null;
  /** Set while it is a member of a batch (`dispatch.batchId`): the batch's to move, never its own. */
  batchId: string | null;
  /** A rejected document's reasons, kept when a valid request takes its id. */
  rejection: NonNullable<JobDocument['rejection']> | null;
  updateTime: Timestamp;
}

export type ClaimResult =
  { kind: 'claimed'; lease: Lease } | { kind: 'existing'; job: ExistingJob };

/** What `dispatched` records about the execution. */
export interface DispatchRecord {
  operationName: string | null;
  executionName: string;
  adopted: boolean;
}

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
   * Turns a `rejected` document into a fresh claim for a valid request (a rejection never holds
   * its id), keeping what was rejected in `rejection`. One preconditioned write; undefined when
   * someone wrote first.
   */
  claimRejected(existing: ExistingJob, input: ClaimInput, ops: OpCount): Promise<Lease | undefined>;
  /**
   * Records `dispatched` with the execution and clears the lease, only while `lease` is ours
   * (a worker of that execution may already have moved the state on: it is kept). False when
   * the lease was lost. Cost: 1 write; +1 read when another write (progress) came in between.
   */
  recordDispatched(lease: Lease, record: DispatchRecord, now: Date, ops: OpCount): Promise<boolean>;
  /** Clears our lease on a `dispatching` job (a retryable error). Cost as `recordDispatched`. */
  release(lease: Lease, now: Date, ops: OpCount): Promise<void>;
  /**
   * Puts a leased job (back) to `queued` with `queue.reason`, clearing our lease; `checkStarted`
   * when the failed launch may have reached Cloud Run; `queuedAt` keeps its place. False when
   * the lease was lost. Cost as `recordDispatched`.
   */
  requeue(
    lease: Lease,
    queue: { reason: QueueReason; checkStarted: boolean; queuedAt?: Date },
    now: Date,
    ops: OpCount,
  ): Promise<boolean>;
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

/** A job the dispatcher may start: `queued`, or `dispatching` under a lease that expired. */
export interface QueueEntry {
  docId: string;
  requestId: string;
  job: string;
  state: 'queued' | 'dispatching';
  /** The document's update time when read: every write on the entry is fenced on it. */
  updateTime: Timestamp;
  queuedAt: Date | null;
  reason: QueueReason | null;
  /** A launch may already have reached Cloud Run: look for its execution first. */
  checkStarted: boolean;
  cancelRequested: boolean;
  concurrencyKey: string | null;
  /** The request as admitted (JSON), or undefined when the document does not hold it. */
  pendingRequest: string | undefined;
  /** The content digest stored at admission; null when the document has none. */
  digest: string | null;
  attempts: number;
  /** The batch the entry was claimed in (`dispatch.batchId`): the batch, not the entry, moves. */
  batchId: string | null;
}

/** Queue depth and the time of its oldest entry, for logs and `GET /limitz`. */
export interface QueueDepth {
  depth: number;
  oldestQueuedAt: Date | null;
}

/**
 * The queue (implemented by `JobQueue`): once admitted, a request waits in Firestore, not in
 * Pub/Sub. Every move out of `queued` is fenced on the update time the entry was read at (or is
 * a transaction, for keyed requests), so any number of dispatchers on any number of instances
 * start each entry at most once; `undefined`/`false` is a lost race, never an error.
 * Indexes on Google: (state, queue.queuedAt), (state, dispatch.leaseExpiresAt), and for keys
 * (concurrencyKey, state).
 */
export interface JobQueueStore {
  /**
   * Admits a request that may not start now: creates its document `queued` with `reason`, or
   * reads the one already there. Cost: 1 write; 1 write + 1 read when it exists.
   */
  admitQueued(
    input: ClaimInput,
    reason: QueueReason,
    ops: OpCount,
  ): Promise<{ kind: 'queued' } | { kind: 'existing'; job: ExistingJob }>;
  /**
   * For a request with a `concurrencyKey`: in one transaction with a count() of the key's active
   * jobs, creates the document `dispatching` with our lease when the key has room, `queued`
   * (reason `concurrency-key`) when it has none. Two claims of one key never both take its last
   * slot. Cost: 2 reads + 1 write, +1 read for the lease's write time when claimed.
   */
  claimKeyed(
    input: ClaimInput,
    keyConcurrency: number,
    ops: OpCount,
  ): Promise<ClaimResult | { kind: 'queued' }>;
  /** The `limit` oldest queued entries, oldest first. Cost: up to `limit` reads. */
  oldest(limit: number): Promise<QueueEntry[]>;
  /** `dispatching` entries whose lease expired before `before`. Cost: up to `limit` reads. */
  abandoned(before: Date, limit: number): Promise<QueueEntry[]>;
  /** Leases an entry (→ `dispatching`), fenced on its update time. Cost: 1 write. */
  lease(
    entry: QueueEntry,
    owner: string,
    now: Date,
    leaseMs: number,
    ops: OpCount,
  ): Promise<Lease | undefined>;
  /**
   * `lease` for a keyed entry, in a transaction with the key's count; `key-busy` when the key has
   * no room. Cost: 2 reads + 1 write, +1 read for the lease's write time.
   */
  leaseKeyed(
    entry: QueueEntry,
    owner: string,
    now: Date,
    leaseMs: number,
    keyConcurrency: number,
    ops: OpCount,
  ): Promise<Lease | 'key-busy' | undefined>;
  /** Ends a queued entry `cancelled`, fenced. Cost: 1 write. */
  cancel(entry: QueueEntry, now: Date, ops: OpCount): Promise<boolean>;
  /** Ends an entry `failed` with `error` (its stored request no longer valid), fenced. 1 write. */
  fail(entry: QueueEntry, error: ErrorInfo, now: Date, ops: OpCount): Promise<boolean>;
  /** Depth and oldest entry. Cost: 1 aggregation read + 1 read. */
  depth(): Promise<QueueDepth>;
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

/** A member of a batch as the reconciler sees it: its slice and its job's state. */
export interface BatchMemberView {
  docId: string;
  offset: number;
  taskCount: number;
  /** Undefined when the member's job document is gone. */
  state: JobState | undefined;
  cancelRequested: boolean;
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
  /**
   * The members of `batches/{batchId}` in task order (document id, offset, task count, as the
   * batch document lists them) with each member job's state and cancel; undefined when the
   * batch document is gone. Cost: 1 read + 1 per member.
   */
  batchMembers(batchId: string): Promise<BatchMemberView[] | undefined>;
}

/**
 * What a task of a batch's execution reads (implemented by `batchReader`): the batch document
 * once, at the task's start. Trust is not the store's business: the caller parses the data
 * (`parseBatchContent`) and runs it only when its digest matches the one in the execution's
 * env, since anyone who can write Firestore can write this document.
 */
export interface BatchReadStore {
  /**
   * `batches/{batchId}` as stored (every field, unparsed), or undefined when there is none.
   * Cost: 1 read. Throws the Firestore client's errors (`isRetryable(err, 'firestore')`).
   */
  readBatch(batchId: string): Promise<Record<string, unknown> | undefined>;
}

/** One queued request a batch claim may take, with the member it becomes (offset assigned then). */
export interface BatchCandidate {
  entry: QueueEntry;
  member: Omit<BatchMember, 'offset'>;
}

/** What a batch claim needs: the compatible candidates, oldest first, and the batch's lease. */
export interface BatchClaimInput {
  batchId: string;
  /** The lease owner: whoever holds it may start the batch's execution. */
  owner: string;
  job: string;
  /** The members' common timeout; undefined keeps the job's own. */
  timeoutSeconds: number | undefined;
  /** At most `MAX_BATCH_MEMBERS`, in the task order the batch will have. */
  candidates: readonly BatchCandidate[];
  now: Date;
  leaseMs: number;
  /** How long the batch document lives (the TTL on `expireAt`), as the job documents do. */
  retentionMs: number;
}

/** A batch lease this drainer holds. */
export interface BatchLease {
  batchId: string;
  owner: string;
  job: string;
  /** What the execution's `JOBBRIDGE_BATCH_DIGEST` says: `batchDigest` of the content. */
  digest: string;
  /** The sum of the members' task counts: the execution's taskCount. */
  taskCount: number;
  /** The members' job document ids, in task order. */
  memberDocIds: string[];
  /**
   * The commit time of the claim that wrote the batch document and every member, when it was one
   * batched write (a transaction does not hand its time back): while nobody wrote them since,
   * each still carries it as its update time, and the next move is one batched write fenced on
   * it, with no read. Absent after a fallback claim or a takeover.
   */
  writeTime?: Timestamp;
}

/** A fresh claim: its lease and the content the batch document holds. */
export interface ClaimedBatch extends BatchLease {
  content: BatchContent;
}

/** A `dispatching` batch whose lease expired: its drainer died, or handed it back. */
export interface AbandonedBatch {
  batchId: string;
  job: string;
  /** The batch document's update time when read: a takeover is fenced on it. */
  updateTime: Timestamp;
}

/** `batches/{batchId}` as the store reads it; `data` is the raw document. */
export interface StoredBatch {
  batchId: string;
  data: Record<string, unknown>;
  state: 'dispatching' | 'dispatched';
  job: string;
  digest: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  executionName: string | null;
  memberDocIds: string[];
  updateTime: Timestamp;
}

/**
 * Batches (implemented by `BatchStore`): k compatible queued requests started as one execution.
 * The batch document `batches/{batchId}` and its members' job documents move together, every
 * move one atomic commit fenced on what the drainer last saw of them — as a batched write whose
 * every write is preconditioned on an update time (no read), or, when a precondition fails, as
 * one transaction that re-reads the batch's lease and each member — so a batch is claimed,
 * started, recorded, handed back or taken over as one unit and each member runs in at most one
 * batch. A member belongs to a batch while its `dispatch.batchId` names it and its lease is the
 * batch's; a member ended meanwhile (a cancel, the reconciler) is left alone by every move.
 * One transaction writes at most 500 documents, so a batch holds at most `MAX_BATCH_MEMBERS`
 * (499) members. Index on Google: batches (state ASC, lease.expiresAt ASC).
 */
export interface JobBatchStore {
  /**
   * Atomically: keeps the candidates nobody wrote since they were read (fenced on
   * `entry.updateTime`), assigns their task offsets in order, creates `batches/{batchId}`
   * (members, digest, total task count, lease, `dispatching`) and moves each kept member
   * `queued → dispatching` with the batch's lease, `dispatch.batchId` and `dispatch.taskOffset`.
   * First as one batched write with each member's update preconditioned on its
   * `entry.updateTime` (0 reads, k + 1 writes; the lease then carries the commit's `writeTime`);
   * when any precondition fails, in one transaction that re-reads every candidate and leaves out
   * those that changed (k reads + kept + 1 writes more). Undefined when none was left.
   */
  claimBatch(input: BatchClaimInput, ops: OpCount): Promise<ClaimedBatch | undefined>;
  /**
   * Records the execution on the batch (→ `dispatched`, lease cleared) and on every member
   * (→ `dispatched` unless a worker already moved it on; operation and execution names; the
   * stored request dropped), only while the batch's lease is ours. False when it was lost.
   * Cost: with the claim's `writeTime`, one batched write fenced on it (0 reads, k + 1 writes)
   * when nobody wrote the batch or a member since; otherwise (and after a takeover) one
   * transaction that re-reads them, (k + 1) reads + (k + 1) writes.
   */
  recordBatch(lease: BatchLease, record: DispatchRecord, now: Date, ops: OpCount): Promise<boolean>;
  /**
   * Gives a batch that never started back to the queue (RESOURCE_EXHAUSTED, or a takeover that
   * found no execution): every member still in it goes back to `queued` with `reason`, keeping
   * its `queue.queuedAt`, its batch fields removed; the batch document is deleted, so an
   * execution of it that did start after all finds nothing to run. Only while the lease is ours.
   * Cost as `recordBatch`.
   */
  dissolveBatch(lease: BatchLease, reason: QueueReason, now: Date, ops: OpCount): Promise<boolean>;
  /** Ends every member still in the batch `failed` with `error` (a permanent launch error) and
   * deletes the batch document, while the lease is ours. Cost as `recordBatch`. */
  failBatch(lease: BatchLease, error: ErrorInfo, now: Date, ops: OpCount): Promise<boolean>;
  /**
   * Lets the batch's lease expire now (an ambiguous launch error: RunJob may have started it), so
   * that the next drain takes it over, looks for its execution and adopts it or dissolves the
   * batch. Cost: 1 read, +1 write while the lease is ours.
   */
  releaseBatch(lease: BatchLease, now: Date, ops: OpCount): Promise<void>;
  /** `dispatching` batches whose lease expired before `before`. Cost: up to `limit` reads. */
  abandonedBatches(before: Date, limit: number): Promise<AbandonedBatch[]>;
  /**
   * Takes over an abandoned batch for `owner`, fenced on the update time it was read at: the
   * batch's lease and each member's (those still in it) become ours. Undefined when anyone wrote
   * the batch since. Cost: (k + 1) reads + (k + 1) writes.
   */
  takeOverBatch(
    abandoned: AbandonedBatch,
    owner: string,
    now: Date,
    leaseMs: number,
    ops: OpCount,
  ): Promise<BatchLease | undefined>;
  /** The batch document, undefined when absent (dissolved, or expired). Cost: 1 read. */
  batchState(batchId: string): Promise<StoredBatch | undefined>;
}
