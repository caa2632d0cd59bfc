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

/**
 * What a function declares about its args, next to its code: a parse function that returns the
 * parsed value and throws an error naming the bad arg, or a zod schema of the string array. The
 * producer (`publishJob()`, `jobbridge publish`) checks a request against it before publishing;
 * the worker parses with it before running the function.
 */
export type ArgsDeclaration =
  | ((args: readonly string[]) => unknown)
  | { safeParse(args: unknown): { success: true } | { success: false; error: ZodLikeError } };

/** The part of a zod error the check reads. */
export interface ZodLikeError {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}

/** A module of `functions/`: its default export is the function, `args` its optional declaration. */
export interface JobFunctionModule {
  default: JobFunction;
  args?: ArgsDeclaration;
}

/** Function name → lazy import of its module, so a task loads only the function it runs. */
export type FunctionRegistry = Readonly<Record<string, () => Promise<JobFunctionModule>>>;
