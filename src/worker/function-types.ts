import type { Logger } from '../log.ts';

/** What a job function gets: its share of the work, a progress reporter, a cancel signal. */
export interface TaskContext {
  /** The args after the function name (`jobbridge work <function> [args…]`). */
  readonly args: readonly string[];
  readonly taskIndex: number;
  readonly taskCount: number;
  /** Cloud Run's CLOUD_RUN_TASK_ATTEMPT: 0 on the first run, +1 on each retry. */
  readonly attempt: number;
  /** Fired on SIGTERM (Cloud Run timeout or cancel) and on a job cancel. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** This task's even share of `items` (round-robin on the task index). */
  shard<T>(items: readonly T[]): T[];
  /** Synchronous and cheap: the latest value is written at most once per interval. Never throws. */
  progress(done: number, total: number, message?: string): void;
  /** Stores a small JSON object on the task document (at most LIMITS.taskResultMaxBytes). */
  result(value: Record<string, unknown>): void;
}

/** A job function (sync or async). Throw to fail the attempt; throw a PermanentError to fail without retry. */
export type JobFunction = (ctx: TaskContext) => unknown;

/** A module of `functions/`: its default export is the function. */
export interface JobFunctionModule {
  default: JobFunction;
}

/** Function name → lazy import of its module, so a task loads only the function it runs. */
export type FunctionRegistry = Readonly<Record<string, () => Promise<JobFunctionModule>>>;
