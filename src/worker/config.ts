import {
  BRIDGE_EXECUTION_ENV,
  CLOUD_RUN_TASK_ENV,
  DEFAULT_COLLECTION,
  FIXED_ENV,
} from '../contract/env.ts';

/** Everything the worker reads from its environment, parsed once (DESIGN.md, "Worker contract"). */
export interface WorkerConfig {
  job: string;
  execution: string;
  taskIndex: number;
  taskCount: number;
  attempt: number;
  requestId: string;
  /** Firestore document id of the job: JOBBRIDGE_JOB_ID, else the request id. */
  jobId: string;
  /** Cloud Run's maxRetries as the bridge passed it; `undefined` when unknown. */
  maxRetries: number | undefined;
  collection: string;
  projectId: string | undefined;
  /** `host:port` of the Firestore emulator (FIRESTORE_EMULATOR_HOST); unset means Google. */
  firestoreEmulatorHost: string | undefined;
  progressIntervalMs: number;
  heartbeatIntervalMs: number;
  /** How long after SIGTERM the function may take to stop before the attempt is recorded anyway. */
  termGraceMs: number;
  /** Root of the cgroup file system (tests point it at a folder with a fake memory.max). */
  cgroupRoot: string;
  /** Percentage of the container's memory given to the V8 heap when the user set no heap flag. */
  heapPercentage: number;
}

/** An env var that is missing or malformed; the message names it and says why. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly field: string;
  constructor(field: string, reason: string) {
    super(`${field} ${reason}`);
    this.field = field;
  }
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '')
    throw new ConfigError(name, 'is required (set by Cloud Run or the bridge)');
  return value;
}

function integer(env: Env, name: string, fallback: number | undefined, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback === undefined)
      throw new ConfigError(name, 'is required (set by Cloud Run or the bridge)');
    return fallback;
  }
  if (!/^\d+$/.test(raw))
    throw new ConfigError(name, `must be a non-negative integer, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min) throw new ConfigError(name, `must be at least ${min}, got ${n}`);
  return n;
}

/** Reads the worker's config from `env` (process.env in the CLI). Throws ConfigError naming the field. */
export function parseWorkerConfig(env: Env): WorkerConfig {
  const requestId = required(env, BRIDGE_EXECUTION_ENV.requestId);
  const taskCount = integer(env, CLOUD_RUN_TASK_ENV.taskCount, 1, 1);
  const taskIndex = integer(env, CLOUD_RUN_TASK_ENV.taskIndex, 0, 0);
  if (taskIndex >= taskCount) {
    throw new ConfigError(
      CLOUD_RUN_TASK_ENV.taskIndex,
      `must be below ${CLOUD_RUN_TASK_ENV.taskCount} (${taskCount})`,
    );
  }
  const maxRetriesRaw = env[BRIDGE_EXECUTION_ENV.maxRetries];
  const heapPercentage = integer(env, 'JOBBRIDGE_HEAP_PERCENTAGE', 75, 1);
  if (heapPercentage > 100)
    throw new ConfigError('JOBBRIDGE_HEAP_PERCENTAGE', 'must be at most 100');
  return {
    job: env[CLOUD_RUN_TASK_ENV.job] ?? 'local',
    execution: env[CLOUD_RUN_TASK_ENV.execution] ?? 'local',
    taskIndex,
    taskCount,
    attempt: integer(env, CLOUD_RUN_TASK_ENV.taskAttempt, 0, 0),
    requestId,
    jobId: env[BRIDGE_EXECUTION_ENV.jobDocumentId] || requestId,
    maxRetries: maxRetriesRaw
      ? integer(env, BRIDGE_EXECUTION_ENV.maxRetries, undefined, 0)
      : undefined,
    collection: env[FIXED_ENV.collection] || DEFAULT_COLLECTION,
    projectId: env[FIXED_ENV.project] || undefined,
    firestoreEmulatorHost: env.FIRESTORE_EMULATOR_HOST || undefined,
    progressIntervalMs: integer(env, 'JOBBRIDGE_PROGRESS_INTERVAL_MS', 1000, 1),
    heartbeatIntervalMs: integer(env, 'JOBBRIDGE_HEARTBEAT_INTERVAL_MS', 30_000, 1),
    termGraceMs: integer(env, 'JOBBRIDGE_TERM_GRACE_MS', 5000, 0),
    cgroupRoot: env.JOBBRIDGE_CGROUP_ROOT || '/sys/fs/cgroup',
    heapPercentage,
  };
}
