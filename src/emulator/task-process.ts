import { spawn, type ChildProcess } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import { createInterface } from 'node:readline';

/** How one task attempt ended. */
export interface AttemptEnd {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  spawnError?: Error;
  /** The attempt's last stderr lines: how an out-of-memory death is told from other aborts. */
  stderrTail?: string[];
}

/**
 * The scheduling priority (nice value) of task processes: below the emulator's. On Cloud Run each
 * task has machines of its own; on one laptop a hundred tasks starting at once would otherwise
 * take the CPU from the bridge that dispatches them and the emulators it talks to.
 */
export const TASK_NICE = 10;

/** How many stderr lines of an attempt are kept for its failure reason. */
const STDERR_TAIL_LINES = 20;
/** After exit, how long to wait for the last output still in the pipes. */
const OUTPUT_DRAIN_MS = 250;

export interface TaskProcessOptions {
  command: string[];
  args: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  /** Prefix of each output line, e.g. `[job-abcde/0]`. */
  prefix: string;
  log: (line: string) => void;
}

/**
 * One attempt of one task: a child process in its own process group, so that a signal reaches
 * everything the task started (a shell script's children would otherwise outlive a kill).
 */
export class TaskProcess {
  readonly ended: Promise<AttemptEnd>;
  readonly startedAt = new Date();
  readonly #child: ChildProcess | undefined;
  readonly #stderrTail: string[] = [];
  #exited = false;
  #killTimer: NodeJS.Timeout | undefined;

  constructor(options: TaskProcessOptions) {
    const [program, ...fixedArgs] = options.command;
    let child: ChildProcess;
    try {
      child = spawn(program ?? '', [...fixedArgs, ...options.args], {
        env: options.env,
        cwd: options.cwd,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err: unknown) {
      // spawn throws at once for what exec can never take (a NUL byte in an argument or env
      // value): the attempt fails to start, like a missing command, instead of taking the
      // emulator's RunJob down with it and leaving the task running for ever.
      this.#child = undefined;
      this.#exited = true;
      const spawnError = err instanceof Error ? err : new Error(String(err));
      this.ended = Promise.resolve({ code: 127, signal: null, spawnError });
      return;
    }
    this.#child = child;
    if (child.pid !== undefined) {
      try {
        // Never above the emulator's own priority, were it started lower still.
        setPriority(child.pid, Math.max(TASK_NICE, getPriority()));
      } catch {
        // Not allowed here (or already gone): the task runs at the emulator's priority.
      }
    }
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      const isStderr = stream === child.stderr;
      createInterface({ input: stream }).on('line', (line) => {
        options.log(`${options.prefix} ${line}`);
        if (isStderr) {
          this.#stderrTail.push(line);
          if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
        }
      });
    }
    this.ended = new Promise<AttemptEnd>((resolve) => {
      child.once('error', (err) => {
        // 'error' without a pid means the spawn itself failed; 'exit' never follows then.
        if (child.pid === undefined)
          this.#finish(resolve, { code: 127, signal: null, spawnError: err });
      });
      child.once('exit', (code, signal) => {
        // The last lines (a heap-exhaustion report) may still be in the pipes: let them drain.
        const drained = new Promise<void>((done) => {
          const timer = setTimeout(done, OUTPUT_DRAIN_MS);
          child.once('close', () => {
            clearTimeout(timer);
            done();
          });
        });
        void drained.then(() =>
          this.#finish(resolve, { code, signal, stderrTail: [...this.#stderrTail] }),
        );
      });
    });
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  #finish(resolve: (end: AttemptEnd) => void, end: AttemptEnd): void {
    this.#exited = true;
    clearTimeout(this.#killTimer);
    // The container ends with its entrypoint: whatever the task left running goes with it.
    this.killGroup();
    resolve(end);
  }

  /**
   * Cloud Run's shutdown: SIGTERM to the entrypoint (the container's first process) now, and
   * SIGKILL to everything the task started after `graceMs` unless it has exited by then.
   */
  terminate(graceMs: number): void {
    if (this.#exited) return;
    const pid = this.#child?.pid;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // ESRCH: already gone.
      }
    }
    this.#killTimer ??= setTimeout(() => this.killGroup(), graceMs);
  }

  /** SIGKILL to the whole process group; a group that is already gone is not an error. */
  killGroup(): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // ESRCH: the group has no member left.
    }
  }
}
