import type { WorkerConfig } from '../config/index.ts';

/**
 * Who a task is, resolved before it runs: the job document it writes to, the function and args
 * it runs, and its place among the job's tasks. A task of a request's own execution takes it
 * from its env and command line (`ownTaskIdentity`); a task of a batch from its member
 * (`resolveBatchTask`). The runner sees no difference, and neither does the function.
 */
export interface TaskIdentity {
  /** The job document id: writes go to `jobs/{jobId}/tasks/{taskIndex}`. */
  jobId: string;
  requestId: string;
  functionName: string;
  args: readonly string[];
  /** Set over the task's env before the function runs (a batch member's; none otherwise). */
  env: Readonly<Record<string, string>>;
  /** The task's index and count within its job: the function's `ctx.taskIndex`/`taskCount`. */
  taskIndex: number;
  taskCount: number;
  /** The job's maxRetries as the bridge passed it; undefined when unknown. */
  maxRetries: number | undefined;
  /** The batch whose execution runs the task, when it is a member's. */
  batchId?: string;
}

/** The identity of a task of a request's own execution: its env and its command line. */
export function ownTaskIdentity(
  config: WorkerConfig,
  functionName: string,
  args: readonly string[],
): TaskIdentity {
  return {
    jobId: config.jobId,
    requestId: config.requestId,
    functionName,
    args,
    env: {},
    taskIndex: config.taskIndex,
    taskCount: config.taskCount,
    maxRetries: config.maxRetries,
  };
}
