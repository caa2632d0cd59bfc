import type { ErrorInfo } from '../contract/index.ts';
import type { ExecutionSummary, TaskSummary } from '../launcher/index.ts';
import type { TaskEnd } from '../store/port.ts';

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
  /** A task ended by a signal (SIGKILL from outside, an abort) without another reason given. */
  killed: 'killed',
  /** A task Cloud Run never started (the execution ended or was cancelled first). */
  neverStarted: 'never-started',
  /** An execution name read from a document lay outside this project, region or allowlist. */
  executionUntrusted: 'execution-untrusted',
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

/** How many tasks a failed job's message names one by one. */
const DESCRIBED_TASKS = 10;
/** How many task documents one reconcile of a job may correct. */
const MAX_TASK_ENDS = 500;

export function taskReason(task: TaskSummary): { code: string; message: string } {
  const message = (task.message ?? '').replace(/^Task \S+ failed with message: /, '');
  if (task.state === 'cancelled')
    return { code: RECONCILE_ERROR_CODES.cancelled, message: message || 'cancelled' };
  if (task.state === 'pending')
    return {
      code: RECONCILE_ERROR_CODES.neverStarted,
      message: 'Cloud Run never started this task before the execution ended',
    };
  const matched = REASONS.find((r) => r.pattern.test(message));
  if (matched) return { code: matched.code, message };
  if (task.termSignal > 0 || /terminated by SIG/.test(message))
    return { code: RECONCILE_ERROR_CODES.killed, message: message || `signal ${task.termSignal}` };
  return {
    code: RECONCILE_ERROR_CODES.nonZeroExit,
    message: message || `exit code ${task.exitCode}`,
  };
}

const list = (tasks: TaskSummary[]): string => tasks.map((t) => t.index).join(', ');

/**
 * Cloud Run's per-task truth of an ended execution: which task indexes failed and why, which
 * never started, and the end each task document should hold.
 */
export function taskTruth(
  executionName: string,
  tasks: TaskSummary[],
  completionTime: Date,
): { summary: string; ends: TaskEnd[] } {
  const failed = tasks.filter((t) => t.state === 'failed');
  const cancelled = tasks.filter((t) => t.state === 'cancelled');
  const neverStarted = tasks.filter((t) => t.state === 'pending');
  const parts: string[] = [];
  if (failed.length > 0) {
    const described = failed
      .slice(0, DESCRIBED_TASKS)
      .map((t) => `task ${t.index} (attempt ${t.retried}): ${taskReason(t).message}`)
      .join('; ');
    const more =
      failed.length > DESCRIBED_TASKS ? `; and ${failed.length - DESCRIBED_TASKS} more` : '';
    parts.push(`task(s) ${list(failed.slice(0, 100))} failed: ${described}${more}`);
  }
  if (cancelled.length > 0) parts.push(`task(s) ${list(cancelled.slice(0, 100))} cancelled`);
  if (neverStarted.length > 0)
    parts.push(`task(s) ${list(neverStarted.slice(0, 100))} never started`);
  const ends: TaskEnd[] = tasks
    .filter((t) => t.state !== 'running')
    .slice(0, MAX_TASK_ENDS)
    .map((t) => ({
      taskIndex: t.index,
      attempt: t.retried,
      state: t.state === 'succeeded' ? 'succeeded' : 'failed',
      error: t.state === 'succeeded' ? null : taskReason(t),
      finishedAt: t.completionTime ?? completionTime,
      execution: executionName.split('/').at(-1) ?? executionName,
    }));
  return { summary: parts.join('; '), ends };
}

/** What an ended execution means for one member of its batch, with the member's task counts. */
export interface MemberOutcome extends ExecutionOutcome {
  succeededCount: number;
  failedCount: number;
}

/**
 * The end of one batch member, from Cloud Run's truth about its own tasks (`tasks`: the member's
 * slice of ListTasks, indexes local to the member) and the execution's outcome: succeeded when
 * every task of its slice did, whatever the other members' tasks did; cancelled when the
 * execution was cancelled or the member's cancel was asked for; else failed with the reason of
 * its own first failed task (out of memory, killed, …), or — when none of its tasks says why
 * (they never started, or the execution failed as a whole) — the execution's.
 */
export function memberOutcome(
  execution: ExecutionOutcome,
  tasks: readonly TaskSummary[],
  taskCount: number,
  cancelRequested: boolean,
): MemberOutcome {
  const succeededCount = tasks.filter((t) => t.state === 'succeeded').length;
  const failedCount = taskCount - succeededCount;
  if (succeededCount >= taskCount)
    return { state: 'succeeded', error: null, succeededCount, failedCount: 0 };
  if (execution.state === 'cancelled' || cancelRequested)
    return {
      state: 'cancelled',
      error: {
        code: RECONCILE_ERROR_CODES.cancelled,
        message: `cancelled: ${succeededCount} of ${taskCount} task(s) of this member succeeded first`,
      },
      succeededCount,
      failedCount,
    };
  const failed = tasks.filter((t) => t.state === 'failed');
  const first = failed[0];
  const counts = `${failedCount} of ${taskCount} task(s) of this member did not succeed`;
  if (first === undefined) {
    const whole = execution.error ?? {
      code: RECONCILE_ERROR_CODES.executionFailed,
      message: 'the execution failed',
    };
    return {
      state: 'failed',
      error: { code: whole.code, message: `${counts}: ${whole.message}`.slice(0, 1000) },
      succeededCount,
      failedCount,
    };
  }
  const reason = taskReason(first);
  return {
    state: 'failed',
    error: {
      code: reason.code,
      message: `${counts}: task ${first.index}: ${reason.message}`.slice(0, 1000),
    },
    succeededCount,
    failedCount,
  };
}
