import { TaskProcess, type AttemptEnd } from './task-process.ts';

/** What an execution runs, after the RunJob overrides were applied. */
export interface ExecutionPlan {
  /** Full name `projects/P/locations/L/jobs/J/executions/E`. */
  name: string;
  /** Full job name. */
  job: string;
  jobId: string;
  executionId: string;
  command: string[];
  args: string[];
  /** The job's env merged with the overrides: what the execution's template shows. */
  env: Record<string, string>;
  taskCount: number;
  /** 0: all tasks at once. */
  parallelism: number;
  maxRetries: number;
  timeoutSeconds: number;
}

export interface RunSettings {
  cwd: string | undefined;
  /** Environment under the execution's own: the emulator's env and options.taskEnv. */
  baseEnv: Record<string, string>;
  killGraceMs: number;
  log: (line: string) => void;
}

export type TaskState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type ExecutionOutcome = 'running' | 'succeeded' | 'failed' | 'cancelled';

interface Task {
  index: number;
  attempt: number;
  state: TaskState;
  retried: boolean;
  process?: TaskProcess;
  timedOut: boolean;
  lastEnd?: AttemptEnd;
}

/**
 * Runs the tasks of one execution as child processes: at most `parallelism` at once, a failed
 * attempt retried up to `maxRetries` times, timeouts and cancellation as SIGTERM then SIGKILL.
 */
export class ExecutionRun {
  readonly plan: ExecutionPlan;
  readonly createTime = new Date();
  startTime: Date | undefined;
  completionTime: Date | undefined;
  cancelRequested = false;
  /** The first task that failed for good, for the Completed condition's message. */
  failure: { index: number; reason: string } | undefined;
  readonly done: Promise<void>;
  readonly #settings: RunSettings;
  readonly #tasks: Task[];
  #resolveDone!: () => void;

  constructor(plan: ExecutionPlan, settings: RunSettings) {
    this.plan = plan;
    this.#settings = settings;
    this.#tasks = Array.from({ length: plan.taskCount }, (_, index) => ({
      index,
      attempt: 0,
      state: 'pending',
      retried: false,
      timedOut: false,
    }));
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** Starts as many tasks as parallelism allows; later ones start as earlier ones finish. */
  start(): void {
    this.#schedule();
  }

  count(state: TaskState): number {
    return this.#tasks.filter((t) => t.state === state).length;
  }

  get retriedCount(): number {
    return this.#tasks.filter((t) => t.retried).length;
  }

  get outcome(): ExecutionOutcome {
    if (!this.completionTime) return 'running';
    if (this.cancelRequested) return 'cancelled';
    return this.count('failed') > 0 ? 'failed' : 'succeeded';
  }

  /** CancelExecution: pending tasks never start, running ones get SIGTERM (then SIGKILL). */
  cancel(): void {
    if (this.completionTime || this.cancelRequested) return;
    this.cancelRequested = true;
    for (const task of this.#tasks) {
      if (task.state === 'pending') task.state = 'cancelled';
      if (task.state === 'running') task.process?.terminate(this.#settings.killGraceMs);
    }
    this.#maybeComplete();
  }

  /** Stop of the whole emulator: every process group gets SIGKILL at once. */
  kill(): void {
    this.cancelRequested = true;
    for (const task of this.#tasks) {
      if (task.state === 'pending') task.state = 'cancelled';
      task.process?.signal('SIGKILL');
    }
    this.#maybeComplete();
  }

  #schedule(): void {
    if (this.cancelRequested) return;
    const limit = this.plan.parallelism > 0 ? this.plan.parallelism : this.plan.taskCount;
    let running = this.count('running');
    for (const task of this.#tasks) {
      if (running >= limit) break;
      if (task.state !== 'pending') continue;
      this.#startAttempt(task);
      running++;
    }
  }

  #startAttempt(task: Task): void {
    const { plan } = this;
    this.startTime ??= new Date();
    task.state = 'running';
    task.timedOut = false;
    const env: Record<string, string> = {
      ...this.#settings.baseEnv,
      ...plan.env,
      CLOUD_RUN_JOB: plan.jobId,
      CLOUD_RUN_EXECUTION: plan.executionId,
      CLOUD_RUN_TASK_INDEX: String(task.index),
      CLOUD_RUN_TASK_COUNT: String(plan.taskCount),
      CLOUD_RUN_TASK_ATTEMPT: String(task.attempt),
    };
    const proc = new TaskProcess({
      command: plan.command,
      args: plan.args,
      env,
      cwd: this.#settings.cwd,
      prefix: `[${plan.executionId}/${task.index}]`,
      log: this.#settings.log,
    });
    task.process = proc;
    const timer = setTimeout(() => {
      task.timedOut = true;
      proc.terminate(this.#settings.killGraceMs);
    }, plan.timeoutSeconds * 1000);
    void proc.ended.then((end) => {
      clearTimeout(timer);
      this.#onAttemptEnd(task, end);
    });
  }

  #onAttemptEnd(task: Task, end: AttemptEnd): void {
    task.lastEnd = end;
    task.process = undefined;
    if (end.spawnError)
      this.#settings.log(
        `[${this.plan.executionId}/${task.index}] cannot start: ${end.spawnError.message}`,
      );
    if (this.cancelRequested) {
      // A task stopped by CancelExecution counts as cancelled however it exited, as on Cloud Run.
      task.state = 'cancelled';
    } else if (end.code === 0 && !task.timedOut) {
      task.state = 'succeeded';
    } else if (task.attempt < this.plan.maxRetries) {
      task.attempt++;
      task.retried = true;
      task.state = 'pending';
    } else {
      task.state = 'failed';
      this.failure ??= { index: task.index, reason: describeEnd(end, task.timedOut) };
    }
    this.#schedule();
    this.#maybeComplete();
  }

  #maybeComplete(): void {
    if (this.completionTime) return;
    if (this.#tasks.some((t) => t.state === 'pending' || t.state === 'running')) return;
    this.completionTime = new Date();
    this.#resolveDone();
  }
}

/** What Node prints when V8 gives up on a full heap, just before it aborts. */
const HEAP_EXHAUSTED = /JavaScript heap out of memory|Reached heap limit/;

function describeEnd(end: AttemptEnd, timedOut: boolean): string {
  if (timedOut) return 'The configured timeout was reached.';
  if (end.spawnError) return `The container could not start: ${end.spawnError.message}`;
  if (end.stderrTail?.some((line) => HEAP_EXHAUSTED.test(line))) {
    const how = end.signal
      ? `terminated by ${end.signal}`
      : `exited with code ${end.code ?? 'unknown'}`;
    return `Memory limit exceeded: the container ran out of memory (JavaScript heap out of memory) and ${how}.`;
  }
  if (end.signal) return `The container was terminated by ${end.signal}.`;
  return `The container exited with an error (exit code ${end.code ?? 'unknown'}).`;
}
