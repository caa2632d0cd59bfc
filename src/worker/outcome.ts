import type { TaskProgress } from '../contract/documents.ts';
import type { TaskOutcome } from '../store/task-document.ts';
import { coerceError } from '../errors/coerce.ts';
import { isPermanent } from './errors.ts';

/** Cloud Run's default maxRetries, assumed when the bridge did not pass JOBBRIDGE_MAX_RETRIES. */
export const DEFAULT_MAX_RETRIES = 3;

/** How an attempt ended, before it is written. */
export type Ending =
  | { kind: 'returned'; value: unknown }
  | { kind: 'threw'; error: unknown }
  | { kind: 'terminated'; cancelled: boolean }
  /** The job's cancel, seen by the worker itself (at the start, or by a batch member's watch). */
  | { kind: 'cancelled' }
  /** Not run at all: what the task was given cannot be trusted (a batch document off its digest). */
  | { kind: 'refused'; reason: string };

export interface DecidedOutcome {
  outcome: TaskOutcome;
  /**
   * The process exit code. Cloud Run retries every non-zero exit, so a permanent failure exits 0
   * after recording `failed` (docs/functions.md, "PermanentError: the trade-off").
   */
  exitCode: number;
}

/** Maps an attempt's ending to the task document's terminal fields and the exit code. */
export function decideOutcome(
  ending: Ending,
  ctx: {
    attempt: number;
    maxRetries: number | undefined;
    progress: TaskProgress;
    result: Record<string, unknown> | null;
  },
): DecidedOutcome {
  const retriesLeft = ctx.attempt < (ctx.maxRetries ?? DEFAULT_MAX_RETRIES);
  const base = { progress: ctx.progress, result: ctx.result };
  switch (ending.kind) {
    case 'returned': {
      const done =
        ctx.progress.total > 0
          ? { ...ctx.progress, done: ctx.progress.total, ratio: 1 }
          : { ...ctx.progress, ratio: 1 };
      return {
        outcome: { ...base, progress: done, state: 'succeeded', willRetry: false, error: null },
        exitCode: 0,
      };
    }
    case 'terminated': {
      const code = ending.cancelled ? 'cancelled' : 'terminated';
      const message = ending.cancelled
        ? 'the job was cancelled'
        : 'terminated by SIGTERM (task timeout or cancel)';
      const willRetry = !ending.cancelled && retriesLeft;
      return {
        outcome: { ...base, state: 'failed', willRetry, error: { code, message } },
        exitCode: 143,
      };
    }
    case 'cancelled':
      // No signal came: the execution goes on (other batch members, say), and a cancelled job's
      // task must not be retried, so the attempt exits 0 once `cancelled` is recorded.
      return {
        outcome: {
          ...base,
          state: 'failed',
          willRetry: false,
          error: { code: 'cancelled', message: 'the job was cancelled' },
        },
        exitCode: 0,
      };
    case 'refused':
      // Permanent, as a PermanentError is: no retry can make the document match.
      return {
        outcome: {
          ...base,
          state: 'failed',
          willRetry: false,
          error: { code: 'batch-mismatch', message: ending.reason.slice(0, 2048) },
        },
        exitCode: 0,
      };
    case 'threw': {
      const err = coerceError(ending.error);
      const permanent = isPermanent(ending.error);
      const error = {
        code: permanent ? 'permanent' : 'error',
        message: err.message.slice(0, 2048),
      };
      const willRetry = !permanent && retriesLeft;
      return {
        outcome: { ...base, state: 'failed', willRetry, error },
        exitCode: permanent ? 0 : 1,
      };
    }
  }
}
