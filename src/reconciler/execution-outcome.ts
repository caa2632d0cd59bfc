import type { ErrorInfo } from '../contract/index.ts';
import type { ExecutionSummary } from '../launcher/index.ts';

/** Stable failure codes the reconciler records (docs/operations.md, "Reconciler"). */
export const RECONCILE_ERROR_CODES = {
  outOfMemory: 'out-of-memory',
  startFailed: 'start-failed',
  timeout: 'timeout',
  nonZeroExit: 'non-zero-exit',
  cancelled: 'cancelled',
  executionFailed: 'execution-failed',
  executionMissing: 'execution-missing',
  leaseExpired: 'lease-expired',
  deadLettered: 'dead-lettered',
} as const;

/** The terminal state an ended execution implies, with the reason when it did not succeed. */
export interface ExecutionOutcome {
  state: 'succeeded' | 'failed' | 'cancelled';
  error: ErrorInfo | null;
}

/**
 * Failure reasons recognised in the `Completed` condition's message, first match wins. Cloud Run
 * words them ("Memory limit of 512 MiB exceeded", "The configured timeout was reached", "exec:
 * ... executable file not found"); the local emulator words them alike ("Memory limit exceeded:
 * ... JavaScript heap out of memory", "could not start: spawn ... ENOENT"). A bare abort is not
 * taken for an out-of-memory death: only a message that says so is.
 */
const REASONS: readonly { code: string; pattern: RegExp }[] = [
  {
    code: RECONCILE_ERROR_CODES.outOfMemory,
    pattern: /memory limit|out of memory|heap limit|\boom\b/i,
  },
  {
    code: RECONCILE_ERROR_CODES.startFailed,
    pattern:
      /could not start|failed to start|executable file not found|no such file|ENOENT|EACCES|exit code 12[67]\b/i,
  },
  { code: RECONCILE_ERROR_CODES.timeout, pattern: /timeout|timed out/i },
];

/** The `Completed` condition, which carries the execution's end state and reason. */
function completed(
  execution: ExecutionSummary,
): ExecutionSummary['conditions'][number] | undefined {
  return execution.conditions.find((c) => c.type === 'Completed');
}

/**
 * What an execution that has ended means for its job: succeeded, cancelled, or failed with a
 * classified reason (out of memory, start failed, timeout, non-zero exit). `undefined` while it
 * is still running.
 */
export function executionOutcome(execution: ExecutionSummary): ExecutionOutcome | undefined {
  if (!execution.done) return undefined;
  const condition = completed(execution);
  const message = condition?.message ?? '';
  if (condition?.reason === 'CANCELLED' || condition?.reason === 'CANCELLING') {
    return {
      state: 'cancelled',
      error: { code: RECONCILE_ERROR_CODES.cancelled, message: message || 'execution cancelled' },
    };
  }
  const failed =
    condition?.state === 'CONDITION_FAILED' ||
    execution.failedCount > 0 ||
    execution.succeededCount < execution.taskCount;
  if (!failed) return { state: 'succeeded', error: null };
  const counts = `${execution.failedCount} of ${execution.taskCount} task(s) failed`;
  const matched = REASONS.find((r) => r.pattern.test(message));
  const code =
    matched?.code ??
    (condition?.reason === 'NON_ZERO_EXIT_CODE'
      ? RECONCILE_ERROR_CODES.nonZeroExit
      : RECONCILE_ERROR_CODES.executionFailed);
  return {
    state: 'failed',
    error: { code, message: `${counts}: ${message || 'no message from Cloud Run'}`.slice(0, 1000) },
  };
}
