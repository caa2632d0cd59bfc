import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import type { EffectiveRun } from './overrides.ts';
import { TaskProcess, type AttemptEnd } from './task-process.ts';

/** The exit code of a task process that succeeded. */
const EXIT_SUCCESS = 0;

/** What an execution runs: its names, the job's command, and the run the overrides made. */
export interface ExecutionPlan extends EffectiveRun {
  /** Full name `projects/P/locations/L/jobs/J/executions/E`. */
  name: string;
  /** Full job name. */
  job: string;
  jobId: string;
  executionId: string;
  command: string[];
  /** How many tasks run at once: the job's parallelism, or Cloud Run's cap when it says 0. */
  parallelism: number;
}

export interface RunSettings {
  /** Environment under the execution's own: a minimal PATH and options.taskEnv. */
  baseEnv: Record<string, string>;
  killGraceMs: number;
  log: (line: string) => void;
  /** Folder where each task's output is kept: `{logDir}/{execution}/task-{index}.log`. */
  logDir: string;
  /** Folder under which each attempt gets its own scratch working folder. */
  scratchDir: string;
}

export type TaskState = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type ExecutionOutcome = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One task of an execution, as ListTasks and GetTask report it. */
export interface TaskRecord {
  readonly index: number;
  readonly uid: string;
  /** The attempt running now, or the last one: 0 first, one higher per retry. */
  attempt: number;
  state: TaskState;
  /** When the first attempt started. */
  startTime?: Date;
  /** When the task ended for good (succeeded, failed its last attempt, or was cancelled). */
  completionTime?: Date;
  /** When the last retry was decided: the Retry condition's time. */
  retryTime?: Date;
  updateTime: Date;
  /** The last attempt hit its timeout. */
  timedOut: boolean;
  lastEnd?: AttemptEnd;
  /** Where the task's output is kept (every attempt, appended). */
  readonly logPath: string;
  /** Bumped on every change: the task's etag. */
  version: number;
}

interface Task extends TaskRecord {
  process?: TaskProcess;
  log?: WriteStream;
}

/** Cloud Run's cap on tasks running at once when parallelism is 0 (1 CPU, 2 GiB). */
export const MAX_PARALLELISM = 200;

/**
 * Runs the tasks of one execution as child processes: at most `parallelism` at once, a failed
 * attempt retried up to `maxRetries` times, timeouts and cancellation as SIGTERM to the
 * entrypoint then SIGKILL to everything the task started.
 */
export class ExecutionRun {
  readonly plan: ExecutionPlan;
  readonly uid = randomUUID();
  readonly createTime = new Date();
  startTime: Date | undefined;
  completionTime: Date | undefined;
  updateTime = this.createTime;
  cancelRequested = false;
  /** Bumped on every change of the execution or one of its tasks: the etag. */
  version = 1;
  /** The first task that failed for good, for the Completed condition's message. */
  failure: { index: number; reason: string; timedOut: boolean } | undefined;
  readonly done: Promise<void>;
  readonly #settings: RunSettings;
  readonly #tasks: Task[];
  #resolveDone!: () => void;

  constructor(plan: ExecutionPlan, settings: RunSettings) {
    this.plan = plan;
    this.#settings = settings;
    this.#tasks = Array.from({ length: plan.taskCount }, (_, index) => ({
      index,
      uid: randomUUID(),
      attempt: 0,
      state: 'pending',
      timedOut: false,
      updateTime: this.createTime,
      logPath: join(settings.logDir, plan.executionId, `task-${index}.log`),
      version: 1,
    }));
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** Starts as many tasks as parallelism allows; later ones start as earlier ones finish. */
  start(): void {
    this.#schedule();
  }

  get tasks(): readonly TaskRecord[] {
    return this.#tasks;
  }

  count(state: TaskState): number {
    return this.#tasks.filter((t) => t.state === state).length;
  }

  get retriedCount(): number {
    return this.#tasks.filter((t) => t.attempt > 0).length;
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
      if (task.state === 'pending') this.#end(task, 'cancelled');
      if (task.state === 'running') task.process?.terminate(this.#settings.killGraceMs);
    }
    this.#touch();
    this.#maybeComplete();
  }

  /** Stop of the whole emulator: every process group gets SIGKILL at once. */
  kill(): void {
    this.cancelRequested = true;
    for (const task of this.#tasks) {
      if (task.state === 'pending') this.#end(task, 'cancelled');
      task.process?.killGroup();
    }
    this.#maybeComplete();
  }

  #touch(task?: Task): void {
    const now = new Date();
    this.updateTime = now;
    this.version++;
    if (task) {
      task.updateTime = now;
      task.version++;
    }
  }

  #end(task: Task, state: 'succeeded' | 'failed' | 'cancelled'): void {
    task.state = state;
    task.completionTime = new Date();
    task.log?.end();
    task.log = undefined;
    this.#touch(task);
  }

  #schedule(): void {
    if (this.cancelRequested) return;
    let running = this.count('running');
    for (const task of this.#tasks) {
      if (running >= this.plan.parallelism) break;
      if (task.state !== 'pending') continue;
      this.#startAttempt(task);
      running++;
    }
  }

  #startAttempt(task: Task): void {
    const { plan } = this;
    const now = new Date();
    this.startTime ??= now;
    task.startTime ??= now;
    task.state = 'running';
    task.timedOut = false;
    this.#touch(task);
    const env: Record<string, string> = {
      ...this.#settings.baseEnv,
      ...plan.env,
      CLOUD_RUN_JOB: plan.jobId,
      CLOUD_RUN_EXECUTION: plan.executionId,
      CLOUD_RUN_TASK_INDEX: String(task.index),
      CLOUD_RUN_TASK_COUNT: String(plan.taskCount),
      CLOUD_RUN_TASK_ATTEMPT: String(task.attempt),
    };
    // Each attempt starts on a fresh, empty filesystem, as a new container instance does.
    const scratch = join(
      this.#settings.scratchDir,
      `${plan.executionId}-task${task.index}-attempt${task.attempt}`,
    );
    mkdirSync(scratch, { recursive: true });
    env.HOME = scratch;
    if (!task.log) {
      mkdirSync(dirname(task.logPath), { recursive: true });
      task.log = createWriteStream(task.logPath, { flags: 'a' });
    }
    const file = task.log;
    file.write(`--- attempt ${task.attempt} started ${now.toISOString()}\n`);
    const prefix = `[${plan.executionId}/${task.index}]`;
    const proc = new TaskProcess({
      command: plan.command,
      args: plan.args,
      env,
      cwd: scratch,
      prefix,
      log: (line) => {
        file.write(`${line.slice(prefix.length + 1)}\n`);
        this.#settings.log(line);
      },
    });
    task.process = proc;
    const timer = setTimeout(() => {
      task.timedOut = true;
      proc.terminate(this.#settings.killGraceMs);
    }, plan.timeoutSeconds * 1000);
    void proc.ended.then((end) => {
      clearTimeout(timer);
      rmSync(scratch, { recursive: true, force: true });
      file.write(
        `--- attempt ${task.attempt} ended: ${end.signal ? `signal ${end.signal}` : `exit code ${end.code ?? 'unknown'}`}${task.timedOut ? ' (timeout)' : ''}\n`,
      );
      this.#onAttemptEnd(task, end);
    });
  }

  #onAttemptEnd(task: Task, end: AttemptEnd): void {
    task.lastEnd = end;
    task.process = undefined;
    if (end.spawnError) {
      const line = `[${this.plan.executionId}/${task.index}] cannot start: ${end.spawnError.message}`;
      task.log?.write(`${line}\n`);
      this.#settings.log(line);
    }
    if (this.cancelRequested) {
      // A task stopped by CancelExecution counts as cancelled however it exited, as on Cloud Run.
      this.#end(task, 'cancelled');
    } else if (end.code === EXIT_SUCCESS && !task.timedOut) {
      this.#end(task, 'succeeded');
    } else if (task.attempt < this.plan.maxRetries) {
      task.attempt++;
      task.retryTime = new Date();
      task.state = 'pending';
      this.#touch(task);
    } else {
      this.#end(task, 'failed');
      this.failure ??= {
        index: task.index,
        reason: describeEnd(end, task.timedOut),
        timedOut: task.timedOut,
      };
    }
    this.#schedule();
    this.#maybeComplete();
  }

  #maybeComplete(): void {
    if (this.completionTime) return;
    if (this.#tasks.some((t) => t.state === 'pending' || t.state === 'running')) return;
    this.completionTime = new Date();
    this.#touch();
    this.#resolveDone();
  }
}

/** What Node prints when V8 gives up on a full heap, just before it aborts. */
const HEAP_EXHAUSTED = /JavaScript heap out of memory|Reached heap limit/;

/** Why an attempt failed, in Cloud Run's words. */
export function describeEnd(end: AttemptEnd, timedOut: boolean): string {
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
