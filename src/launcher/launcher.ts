/**
 * The port that starts Cloud Run Jobs executions. `CloudRunLauncher` implements it over the real
 * `@google-cloud/run` clients, pointed at Google or at `jobbridge emulator`.
 */

/** What to run: a job of the configured project and region, with per-execution overrides. */
export interface LaunchRequest {
  /** Short Cloud Run job name (`screenshot`), resolved against the launcher's project/region. */
  job: string;
  /** Container args. `undefined` keeps the job's own args; `[]` clears them (clearArgs). */
  args?: string[];
  /** Env overrides, merged over the job's env by Cloud Run. */
  env?: Record<string, string>;
  taskCount?: number;
  timeoutSeconds?: number;
}

/** Returned as soon as Cloud Run accepted the run: the operation is never awaited. */
export interface LaunchResult {
  operationName: string;
  /** Full resource name `projects/P/locations/L/jobs/J/executions/E`. */
  executionName: string;
}

/** The state of an execution as Cloud Run reports it. */
export interface ExecutionSummary {
  name: string;
  job: string;
  /** Env overrides of the execution's template (how an execution is found again). */
  env: Record<string, string>;
  createTime?: Date;
  startTime?: Date;
  completionTime?: Date;
  taskCount: number;
  runningCount: number;
  succeededCount: number;
  failedCount: number;
  cancelledCount: number;
  retriedCount: number;
  /** True once the execution has ended (completionTime set). */
  done: boolean;
  /** The `Completed` condition's reason and message, when Cloud Run gave one. */
  conditions: { type: string; state: string; reason?: string; message?: string }[];
}

/** One task of an execution as Cloud Run reports it (Tasks.ListTasks). */
export interface TaskSummary {
  index: number;
  /** From the task's `Completed` condition; `pending` when it never started. */
  state: 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  /** How many times Cloud Run retried it: its last attempt's number. */
  retried: number;
  /** The last attempt's exit code and termination signal (0 when there was none). */
  exitCode: number;
  termSignal: number;
  /** Why it ended, in Cloud Run's words (the `Completed` condition's message). */
  message?: string;
  startTime?: Date;
  completionTime?: Date;
}

export interface JobInfo {
  name: string;
  /** The job template's maxRetries: how many times Cloud Run retries a failed task. */
  maxRetries: number;
  taskCount: number;
}

export interface Launcher {
  /** Starts an execution and returns its names without waiting for it to run. */
  launch(request: LaunchRequest): Promise<LaunchResult>;
  /** Executions of `job` whose template env has `name=value`, newest first (bounded scan). */
  findExecutionsByEnv(job: string, name: string, value: string): Promise<ExecutionSummary[]>;
  getExecution(executionName: string): Promise<ExecutionSummary>;
  /** Every task of an execution, by index: Cloud Run's per-task truth. */
  listTasks(executionName: string): Promise<TaskSummary[]>;
  cancelExecution(executionName: string): Promise<void>;
  getJob(job: string): Promise<JobInfo>;
}
