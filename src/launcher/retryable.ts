import { status } from '@grpc/grpc-js';

/**
 * gRPC codes after which the same RunJob may succeed if tried again later. Everything else
 * (NOT_FOUND job, INVALID_ARGUMENT, PERMISSION_DENIED, FAILED_PRECONDITION, ...) is permanent:
 * repeating the request cannot change the answer.
 */
const RETRYABLE_CODES: ReadonlySet<number> = new Set([
  status.UNAVAILABLE,
  status.RESOURCE_EXHAUSTED, // quota or rate limit: passes with Pub/Sub's backoff
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

/** The gRPC status code of an error from a Google client, if it carries one. */
export function grpcCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = err.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Decides whether an error from the Cloud Run clients is worth retrying (answer 5xx so Pub/Sub
 * redelivers) or permanent (record the failure). The one place that decides it: call sites never
 * match on message text. An error without a gRPC code (a bug, a bad config) is permanent.
 */
export function isRetryable(err: unknown): boolean {
  const code = grpcCode(err);
  return code !== undefined && RETRYABLE_CODES.has(code);
}
