/** Env vars that Cloud Run sets in every task of an execution (the worker contract). */
export const CLOUD_RUN_TASK_ENV = {
  job: 'CLOUD_RUN_JOB',
  execution: 'CLOUD_RUN_EXECUTION',
  taskIndex: 'CLOUD_RUN_TASK_INDEX',
  taskCount: 'CLOUD_RUN_TASK_COUNT',
  taskAttempt: 'CLOUD_RUN_TASK_ATTEMPT',
} as const;

/** Env vars that the bridge sets on every execution it starts. */
export const BRIDGE_EXECUTION_ENV = {
  /** The request id, so each task knows its job document and the execution can be found again. */
  requestId: 'JOBBRIDGE_REQUEST_ID',
  /** The Firestore document id of the job (differs from the request id when it was hashed). */
  jobDocumentId: 'JOBBRIDGE_JOB_ID',
  /** The function name, when the request named one. */
  function: 'JOBBRIDGE_FUNCTION',
  /** The job's maxRetries, read once by the bridge, so a worker knows whether Cloud Run will retry. */
  maxRetries: 'JOBBRIDGE_MAX_RETRIES',
} as const;

/** Names fixed by the design: other tools and people's scripts rely on them. */
export const FIXED_ENV = {
  project: 'GOOGLE_CLOUD_PROJECT',
  region: 'JOBBRIDGE_REGION',
  jobs: 'JOBBRIDGE_JOBS',
  insecurePush: 'JOBBRIDGE_INSECURE_PUSH',
  pushAudience: 'JOBBRIDGE_PUSH_AUDIENCE',
  pushServiceAccount: 'JOBBRIDGE_PUSH_SERVICE_ACCOUNT',
  collection: 'JOBBRIDGE_COLLECTION',
  port: 'PORT',
  pubsubEmulatorHost: 'PUBSUB_EMULATOR_HOST',
  firestoreEmulatorHost: 'FIRESTORE_EMULATOR_HOST',
  cloudRunEmulatorHost: 'CLOUD_RUN_EMULATOR_HOST',
} as const;

/** The default Firestore collection of job documents. */
export const DEFAULT_COLLECTION = 'jobs';

/**
 * Env names a producer may never set on an execution: they would change how Node, the Google
 * clients, Cloud Run or jobbridge itself behave inside the task.
 */
export const DENIED_ENV_EXACT: readonly string[] = ['NODE_OPTIONS', 'PATH', 'PORT', 'HOME'];
export const DENIED_ENV_PREFIXES: readonly string[] = [
  'GOOGLE_',
  'CLOUD_RUN_',
  'JOBBRIDGE_',
  'K_',
  'LD_',
  'NODE_',
];

/** Why an env name may not be overridden, or undefined when it may. */
export function deniedEnvReason(name: string): string | undefined {
  const upper = name.toUpperCase();
  if (DENIED_ENV_EXACT.includes(upper)) return `${name} is reserved and cannot be overridden`;
  const prefix = DENIED_ENV_PREFIXES.find((p) => upper.startsWith(p));
  if (prefix) return `names starting with ${prefix} are reserved and cannot be overridden`;
  return undefined;
}
