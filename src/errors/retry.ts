import { grpcCode, status } from './grpc.ts';

/** The backends whose errors we classify; each has its own table, since the codes mean different things. */
export type Backend = 'cloud-run' | 'firestore' | 'pubsub';

/**
 * Cloud Run Admin API (RunJob, GetExecution, ListExecutions, CancelExecution). Everything else
 * (NOT_FOUND job, INVALID_ARGUMENT, PERMISSION_DENIED, FAILED_PRECONDITION, ...) is permanent:
 * repeating the request cannot change the answer.
 */
const CLOUD_RUN: ReadonlySet<status> = new Set([
  status.UNAVAILABLE,
  status.RESOURCE_EXHAUSTED, // quota or rate limit: back to the queue, and the budget slows down
  // Ambiguous: the call may have started an execution before the deadline hit. Retrying is
  // still right because the bridge looks for an execution by JOBBRIDGE_REQUEST_ID before it
  // starts another (DESIGN.md, protocol step 3).
  status.DEADLINE_EXCEEDED,
  status.ABORTED, // a concurrency conflict on Google's side: retry is the documented answer
  // Ambiguous: INTERNAL is Google's own fault and usually transient; a persistent INTERNAL
  // ends in the dead-letter topic after maxDeliveryAttempts rather than looping forever.
  status.INTERNAL,
  // Ambiguous: UNKNOWN is what grpc-js reports when a connection drops mid-call; treat it as
  // transient for the same reason as INTERNAL.
  status.UNKNOWN,
]);

/**
 * Firestore. A request answered with one of these can simply be sent again: every write of ours
 * is either idempotent or fenced by a precondition, so a repeat cannot double anything.
 */
const FIRESTORE: ReadonlySet<status> = new Set([
  // Ambiguous: the write may or may not have landed; our writes are idempotent or fenced.
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED, // quota or contention: back off
  status.ABORTED, // transaction contention
  status.INTERNAL, // Google documents it as retryable for Firestore
  status.UNAVAILABLE,
]);

/**
 * Pub/Sub (publish, topic and subscription admin), the codes its own client retries a publish on.
 * Ambiguous: a publish retried after DEADLINE_EXCEEDED may be delivered twice; the bridge's
 * dedup on the request id makes that harmless.
 */
const PUBSUB: ReadonlySet<status> = new Set([
  status.ABORTED,
  status.CANCELLED,
  status.DEADLINE_EXCEEDED,
  status.INTERNAL,
  status.RESOURCE_EXHAUSTED,
  status.UNAVAILABLE,
  status.UNKNOWN,
]);

const TABLES: Readonly<Record<Backend, ReadonlySet<status>>> = {
  'cloud-run': CLOUD_RUN,
  firestore: FIRESTORE,
  pubsub: PUBSUB,
};

/**
 * Whether an error from `backend` is transient (send the request again, or answer 5xx so Pub/Sub
 * redelivers) or permanent (record the failure). The one place that decides it: call sites never
 * compare a code or match on message text. An error without a gRPC code (a bug, a bad config) is
 * permanent.
 */
export function isRetryable(err: unknown, backend: Backend): boolean {
  const code = grpcCode(err);
  return code !== undefined && TABLES[backend].has(code);
}
