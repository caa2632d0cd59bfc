/**
 * A failure that retrying cannot fix (bad input, a missing function, a refused permission).
 * Thrown by a job function, it records the task `failed` with `willRetry: false` and ends the
 * process so that Cloud Run spends no retry on it (docs/functions.md, "PermanentError").
 */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
  readonly nonRetryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Whether an error says it must not be retried: a PermanentError or any `nonRetryable: true`. */
export function isPermanent(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { nonRetryable?: unknown }).nonRetryable === true
  );
}

/** Turns anything thrown into an Error with a message, keeping the original as `cause`. */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  const message = typeof err === 'string' ? err : safeJson(err);
  return new Error(message || 'non-error thrown', { cause: err });
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** gRPC codes that Firestore may answer to a request that can simply be sent again. */
const RETRYABLE_CODES = new Set([
  4, // DEADLINE_EXCEEDED: the write may or may not have landed; our writes are idempotent or fenced.
  8, // RESOURCE_EXHAUSTED: quota or contention; back off.
  10, // ABORTED: transaction contention.
  13, // INTERNAL: Google documents it as retryable for Firestore.
  14, // UNAVAILABLE
]);

/** Whether a Firestore error is transient. Call sites never match on message text. */
export function isRetryableFirestoreError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && RETRYABLE_CODES.has(code);
}

/** FAILED_PRECONDITION: an update's `lastUpdateTime` precondition did not hold. */
export function isPreconditionFailure(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 9;
}
