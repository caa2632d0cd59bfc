import { BRIDGE_EXECUTION_ENV, CLOUD_RUN_TASK_ENV, documentIdProblem } from '../contract/index.ts';
import { Issues, readVariables, type Env } from './env-reader.ts';
import { pick, type LogLevel } from './variables.ts';

/**
 * How `jobbridge work` was started: `single` runs the request the execution was started for
 * (`work <function>`), `batch` the member of `batches/{id}` that owns this task (`work --batch`).
 */
export type WorkerMode = 'single' | 'batch';

/** Everything the worker reads from its environment, parsed once (DESIGN.md, "Worker contract"). */
export interface WorkerConfig {
  job: string;
  execution: string;
  /** The execution's task index and count (in a batch, the member's are in its task identity). */
  taskIndex: number;
  taskCount: number;
  attempt: number;
  /** The execution's request id; '' in batch mode, where each member has its own. */
  requestId: string;
  /** Firestore document id of the job: JOBBRIDGE_JOB_ID, else the request id ('' in batch mode). */
  jobId: string;
  /** In batch mode: JOBBRIDGE_BATCH_ID and the digest its document must match. */
  batch: { id: string; digest: string } | undefined;
  /** How often a batch member's task reads its job document for a cancel. */
  cancelPollMs: number;
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
  'batchId',
  'batchDigest',
  'cancelPollMs',
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

/**
 * Reads the worker's config from `env` (process.env in the CLI); a ConfigError names every field
 * at fault. `single` mode needs JOBBRIDGE_REQUEST_ID, `batch` mode JOBBRIDGE_BATCH_ID and
 * JOBBRIDGE_BATCH_DIGEST.
 */
export function parseWorkerConfig(
  env: Env = process.env,
  mode: WorkerMode = 'single',
): WorkerConfig {
  const issues = new Issues();
  const v = readVariables(env, WORKER_VARIABLES, issues);
  const required = (name: string, value: unknown, why: string) => {
    if (value === undefined && !issues.list.some((i) => i.name === name))
      issues.add(name, `is required ${why}`);
  };
  if (mode === 'single') {
    required(BRIDGE_EXECUTION_ENV.requestId, v.requestId, '(set by Cloud Run or the bridge)');
  } else {
    required(BRIDGE_EXECUTION_ENV.batchId, v.batchId, 'by `work --batch` (set by the bridge)');
    required(
      BRIDGE_EXECUTION_ENV.batchDigest,
      v.batchDigest,
      'by `work --batch` (set by the bridge)',
    );
    const problem = v.batchId === undefined ? undefined : documentIdProblem(v.batchId);
    if (problem)
      issues.add(BRIDGE_EXECUTION_ENV.batchId, `must be a batch document id (it ${problem})`);
  }
  if (v.taskIndex !== undefined && v.taskCount !== undefined && v.taskIndex >= v.taskCount) {
    issues.add(
      CLOUD_RUN_TASK_ENV.taskIndex,
      `must be below ${CLOUD_RUN_TASK_ENV.taskCount} (${v.taskCount})`,
    );
  }
  issues.throwIfAny();
  const requestId = mode === 'single' ? (v.requestId ?? '') : '';
  return {
    job: v.cloudRunJob,
    execution: v.cloudRunExecution,
    taskIndex: v.taskIndex,
    taskCount: v.taskCount,
    attempt: v.taskAttempt,
    requestId,
    jobId: mode === 'single' ? (v.jobDocumentId ?? requestId) : '',
    batch: mode === 'batch' ? { id: v.batchId ?? '', digest: v.batchDigest ?? '' } : undefined,
    cancelPollMs: v.cancelPollMs,
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
