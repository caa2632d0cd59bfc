/**
 * The public face of the Cloud Run Jobs emulator, fixed early so that the bridge's and the
 * worker's tests can start it in-process. Implementation: src/emulator/server.ts.
 */

/** One job of the job file (DESIGN.md, "Names that are fixed"). */
export interface EmulatorJobSpec {
  /** The image's ENTRYPOINT. Relative paths resolve from the job file's folder. */
  command: string[];
  /** The image's CMD: what RunJob's args override replaces. */
  args?: string[];
  env?: Record<string, string>;
  taskCount?: number;
  /** 0 means as many as possible, as on Cloud Run. */
  parallelism?: number;
  maxRetries?: number;
  timeoutSeconds?: number;
}

export interface JobFile {
  jobs: Record<string, EmulatorJobSpec>;
}

/** Fault injection for the tests of the emulator's callers. */
export interface FaultOptions {
  /** Fraction (0..1) of RunJob calls answered UNAVAILABLE. */
  runJobUnavailableRate?: number;
  /** Fraction (0..1) of RunJob calls answered RESOURCE_EXHAUSTED. */
  runJobResourceExhaustedRate?: number;
  /** Added latency before RunJob answers, in ms. */
  runJobLatencyMs?: number;
}

/**
 * Cloud Run's limits on RunJob, per project and location. Off (undefined or 0) unless set;
 * CLOUD_RUN_DEFAULT_QUOTAS holds Cloud Run's defaults. Past either, RunJob answers
 * RESOURCE_EXHAUSTED with Cloud Run's message and starts nothing.
 */
export interface QuotaOptions {
  /** At most this many RunJob calls start an execution in any 60 s ("Job run requests per minute per region"). */
  runJobPerMinute?: number;
  /** At most this many executions running at once ("Maximum number of running job executions"). */
  maxRunningExecutions?: number;
}

export interface RunEmulatorOptions {
  jobs: JobFile;
  /**
   * The job file's folder (loadJobFile resolved relative commands from it). Tasks do not run
   * there: each attempt gets a scratch working folder of its own, as a fresh container would.
   */
  baseDir?: string;
  /** 0 or omitted: a free port. */
  port?: number;
  host?: string;
  faults?: FaultOptions;
  quotas?: QuotaOptions;
  /** SIGTERM → SIGKILL grace for timed-out or cancelled tasks, default 10 000 ms as on Cloud Run. */
  killGraceMs?: number;
  /**
   * Env given to every task process (e.g. FIRESTORE_EMULATOR_HOST). Tasks never see the
   * emulator's own environment: only a minimal PATH, this and their job's env.
   */
  taskEnv?: Record<string, string>;
  /**
   * Where each task's output is kept (`{logDir}/{execution}/task-{index}.log`, the Task's
   * `logUri`). Default: a folder of its own under the system's temp folder, removed on stop.
   */
  logDir?: string;
  /** Receives each line of task output, prefixed `[execution/task]`, and the emulator's own log. */
  log?: (line: string) => void;
}

export interface StartedRunEmulator {
  /** `127.0.0.1:PORT`: the value for CLOUD_RUN_EMULATOR_HOST. */
  readonly host: string;
  readonly port: number;
  /** Where task output is kept: the folder `logUri` points into. */
  readonly logDir: string;
  setFaults(faults: FaultOptions): void;
  /** Replaces the quotas; calls already counted in the last minute still count. */
  setQuotas(quotas: QuotaOptions): void;
  /** Stops serving, kills every task process and waits for them to exit. */
  stop(): Promise<void>;
}
