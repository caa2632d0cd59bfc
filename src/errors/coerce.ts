/** Turns anything thrown into an Error with a message, keeping the original as `cause`. */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  const message = typeof err === 'string' ? err : safeJson(err);
  return new Error(message || 'non-error thrown', { cause: err });
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return coerceError(err).message;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
