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
