import { CLOUD_RUN_TASK_ENV } from '../contract/index.ts';
import { Issues, readVariables, type Env } from './env-reader.ts';
import { pick, type LogLevel } from './variables.ts';

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
  /** NODE_OPTIONS, where a heap flag the user chose wins over the sizing. */
  nodeOptions: string | undefined;
  /** This process is the re-execution with a sized heap (JOBBRIDGE_HEAP_SIZED=true). */
  heapSized: boolean;
  logLevel: LogLevel;
}

const WORKER_VARIABLES = pick(
  'requestId',
  'jobDocumentId',
  'maxRetries',
  'cloudRunJob',
  'cloudRunExecution',
  'taskIndex',
  'taskCount',
  'taskAttempt',
  'collection',
  'projectId',
  'firestoreEmulatorHost',
  'progressIntervalMs',
  'heartbeatIntervalMs',
  'termGraceMs',
  'cgroupRoot',
  'heapPercentage',
  'nodeOptions',
  'heapSized',
  'logLevel',
);

/** Reads the worker's config from `env` (process.env in the CLI); a ConfigError names every field at fault. */
export function parseWorkerConfig(env: Env = process.env): WorkerConfig {
  const issues = new Issues();
  const v = readVariables(env, WORKER_VARIABLES, issues);
  if (v.requestId === undefined && !issues.list.some((i) => i.name === 'JOBBRIDGE_REQUEST_ID'))
    issues.add('JOBBRIDGE_REQUEST_ID', 'is required (set by Cloud Run or the bridge)');
  if (v.taskIndex !== undefined && v.taskCount !== undefined && v.taskIndex >= v.taskCount) {
    issues.add(
      CLOUD_RUN_TASK_ENV.taskIndex,
      `must be below ${CLOUD_RUN_TASK_ENV.taskCount} (${v.taskCount})`,
    );
  }
  issues.throwIfAny();
  const requestId = v.requestId ?? '';
  return {
    job: v.cloudRunJob,
    execution: v.cloudRunExecution,
    taskIndex: v.taskIndex,
    taskCount: v.taskCount,
    attempt: v.taskAttempt,
    requestId,
    jobId: v.jobDocumentId ?? requestId,
    maxRetries: v.maxRetries,
    collection: v.collection,
    projectId: v.projectId,
    firestoreEmulatorHost: v.firestoreEmulatorHost,
    progressIntervalMs: v.progressIntervalMs,
    heartbeatIntervalMs: v.heartbeatIntervalMs,
    termGraceMs: v.termGraceMs,
    cgroupRoot: v.cgroupRoot,
    heapPercentage: v.heapPercentage,
    nodeOptions: v.nodeOptions,
    heapSized: v.heapSized,
    logLevel: v.logLevel ?? 'info',
  };
}
