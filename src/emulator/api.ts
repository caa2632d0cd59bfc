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
  /** Folder that relative paths in `command` resolve from (the job file's folder). */
  baseDir?: string;
  /** 0 or omitted: a free port. */
  port?: number;
  host?: string;
  faults?: FaultOptions;
  quotas?: QuotaOptions;
  /** SIGTERM → SIGKILL grace for timed-out or cancelled tasks, default 10 000 ms as on Cloud Run. */
  killGraceMs?: number;
  /** Extra env given to every task process (e.g. FIRESTORE_EMULATOR_HOST in tests). */
  taskEnv?: Record<string, string>;
  /** Receives each line of task output, prefixed `[execution/task]`, and the emulator's own log. */
  log?: (line: string) => void;
}

export interface StartedRunEmulator {
  /** `127.0.0.1:PORT`: the value for CLOUD_RUN_EMULATOR_HOST. */
  readonly host: string;
  readonly port: number;
  setFaults(faults: FaultOptions): void;
  /** Replaces the quotas; calls already counted in the last minute still count. */
  setQuotas(quotas: QuotaOptions): void;
  /** Stops serving, kills every task process and waits for them to exit. */
  stop(): Promise<void>;
}
