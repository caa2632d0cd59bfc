import { coerceError, isRetryable } from '../errors/index.ts';
import type { Logger } from '../log.ts';

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Retries transient Firestore errors with exponential backoff (5 tries, up to ~3 s). */
export async function withRetry<T>(log: Logger, what: string, fn: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await fn();
    } catch (err: unknown) {
      if (!isRetryable(err, 'firestore') || tries >= 4) throw coerceError(err);
      log.warn({ err, tries }, `${what}: transient Firestore error, retrying`);
      await delay(200 * 2 ** tries);
    }
  }
}
