import type { JobState, TaskState } from './states.ts';

/** A recorded error: a stable code and a human message. */
export interface ErrorInfo {
  code: string;
  message: string;
}

/** Where a request came from (the Pub/Sub delivery that created the document). */
export interface RequestSource {
  messageId: string;
  publishTime?: string;
  subscription?: string;
  deliveryAttempt?: number;
}

/** The dispatch lease and what the dispatch produced. */
export interface DispatchInfo {
  /** Lease owner: one id per delivery attempt. */
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  attempts: number;
  operationName?: string;
  executionName?: string;
  /** True when a takeover found an execution already started and adopted it. */
  adopted?: boolean;
  /** When the reconciler asked Cloud Run to cancel the execution. */
  cancelSentAt?: Date;
  /** The batch (`batches/{id}`) whose execution runs this job, when it was coalesced. */
  batchId?: string;
  /** Index of this job's task 0 among the batch execution's tasks. */
  taskOffset?: number;
}

/** Why a request waits in the queue instead of starting at once (DESIGN.md, "Admission"). */
export const QUEUE_REASONS = ['runjob-rate', 'running-limit', 'concurrency-key'] as const;
export type QueueReason = (typeof QUEUE_REASONS)[number];

/** Set on a job while it is, or was last, `queued`. */
export interface QueueInfo {
  reason: QueueReason;
  /** When it entered the queue (the order the dispatcher drains in, oldest first). */
  queuedAt: Date;
  /**
   * A launch attempt may have reached Cloud Run before it was queued again (an ambiguous error):
   * the dispatcher looks for that execution before it starts another.
   */
  checkStarted?: boolean;
}

/** Running tasks whose heartbeat the reconciler found stale (the state is left as it is). */
export interface StaleHeartbeat {
  taskIndexes: number[];
  oldestHeartbeatAt: Date | null;
  checkedAt: Date;
}

/** Aggregate progress of a job: the sum over its tasks. */
export interface JobProgress {
  done: number;
  total: number;
  ratio: number;
}

/** Task counts by state (plus how many of the failed ones Cloud Run will retry). */
export interface TaskCounts {
  running: number;
  succeeded: number;
  failed: number;
}

/** `jobs/{id}`: one per request id. Times are Firestore timestamps when stored. */
export interface JobDocument {
  /** The request id as the producer gave it (differs from the document id when hashed). */
  requestId: string;
  state: JobState;
  job: string;
  function?: string | null;
  args: string[];
  /** Env names only: values are never stored (they may hold secrets). */
  envNames: string[];
  taskCount: number | null;
  timeoutSeconds: number | null;
  labels: Record<string, string>;
  concurrencyKey?: string | null;
  source: RequestSource;
  /** Present while the job waits for its turn. */
  queue?: QueueInfo;
  /**
   * The validated request as JSON, kept from admission until the job is dispatched (then
   * deleted): what lets the dispatcher start a queued request, or one whose bridge died after
   * admission, without Pub/Sub redelivering it. It holds env values while it exists.
   */
  pendingRequest?: string;
  dispatch: DispatchInfo;
  progress?: JobProgress;
  tasks?: TaskCounts;
  error?: ErrorInfo | null;
  /** Set by `jobbridge cancel`; acted on by the bridge, the reconciler and the workers. */
  cancelRequested?: boolean;
  /** Set by the reconciler when running tasks stopped beating. */
  staleHeartbeat?: StaleHeartbeat | null;
  /** When the reconciler last examined the job. */
  reconciledAt?: Date;
  /** Validation issues of a rejected request. */
  issues?: { path: string; reason: string }[];
  /** The request's content digest (`requestDigest`), stored at admission; null when unread. */
  digest?: string | null;
  /** What an earlier, rejected request under this id was, kept when a valid one took the id. */
  rejection?: {
    error: ErrorInfo | null;
    issues: { path: string; reason: string }[];
    source: RequestSource | null;
    at: Date;
  } | null;
  createdAt: Date;
  updatedAt: Date;
  dispatchedAt?: Date | null;
  startedAt?: Date | null;
  finishedAt?: Date | null;
  /** For a Firestore TTL policy: the end of the dedup window. */
  expireAt: Date;
}

/** Progress of one task as its function reports it. */
export interface TaskProgress {
  done: number;
  total: number;
  ratio: number;
  message?: string | null;
}

/** `jobs/{id}/tasks/{taskIndex}`: one per task. */
export interface TaskDocument {
  taskIndex: number;
  state: TaskState;
  attempt: number;
  /** On `failed`: whether Cloud Run will run another attempt. */
  willRetry?: boolean;
  execution?: string;
  progress: TaskProgress;
  result?: Record<string, unknown> | null;
  heartbeatAt: Date;
  startedAt: Date;
  finishedAt?: Date | null;
  error?: ErrorInfo | null;
}
