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
  /**
   * Set instead of the request id, job id and function on an execution that runs a batch: the
   * id of `batches/{id}`, which lists the members (src/contract/batch.ts).
   */
  batchId: 'JOBBRIDGE_BATCH_ID',
  /** The digest of that batch's content: a task runs its member only when the document matches it. */
  batchDigest: 'JOBBRIDGE_BATCH_DIGEST',
} as const;

/** Names fixed by the design: other tools and people's scripts rely on them. */
export const FIXED_ENV = {
  project: 'GOOGLE_CLOUD_PROJECT',
  region: 'JOBBRIDGE_REGION',
  jobs: 'JOBBRIDGE_JOBS',
  jobPolicy: 'JOBBRIDGE_JOB_POLICY',
  jobPolicyFile: 'JOBBRIDGE_JOB_POLICY_FILE',
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
 * Env names a producer may never set on an execution, whatever a job's policy allows (the floor
 * under every policy). Cloud Run merges override env into the job's own, so each of these would
 * replace what the operator set: how Node, a shell, Java, Python, Perl or Ruby start; where the
 * Google clients send their traffic or get their token (emulator hosts, the metadata server,
 * proxies, CA files); the project; jobbridge's own settings, log level and install folder.
 * Compared case-insensitively (`https_proxy` is read as well as `HTTPS_PROXY`).
 */
export const DENIED_ENV_EXACT: readonly string[] = [
  'NODE_OPTIONS',
  'PATH',
  'PORT',
  'HOME',
  'LOG_LEVEL',
  'APP_DIR',
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'IFS',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'CLASSPATH',
  'PERLLIB',
  'RUBYOPT',
  'RUBYLIB',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'CURL_CA_BUNDLE',
  'REQUESTS_CA_BUNDLE',
  'OPENSSL_CONF',
  'TMPDIR',
];
export const DENIED_ENV_PREFIXES: readonly string[] = [
  'GOOGLE_',
  'GCLOUD_',
  'CLOUDSDK_',
  'GCE_',
  'GRPC_',
  'CLOUD_RUN_',
  'JOBBRIDGE_',
  'K_',
  'LD_',
  'NODE_',
  'PYTHON',
  'PERL5',
];
/** Suffixes: every `*_EMULATOR_HOST` a Google client reads, and every `*_PROXY`. */
export const DENIED_ENV_SUFFIXES: readonly string[] = ['_EMULATOR_HOST', '_PROXY'];

/** Why an env name may not be overridden, or undefined when it may. */
export function deniedEnvReason(name: string): string | undefined {
  const upper = name.toUpperCase();
  if (DENIED_ENV_EXACT.includes(upper)) return `${name} is reserved and cannot be overridden`;
  const prefix = DENIED_ENV_PREFIXES.find((p) => upper.startsWith(p));
  if (prefix) return `names starting with ${prefix} are reserved and cannot be overridden`;
  const suffix = DENIED_ENV_SUFFIXES.find((p) => upper.endsWith(p));
  if (suffix) return `names ending in ${suffix} are reserved and cannot be overridden`;
  return undefined;
}

/**
 * Whether a job's policy lets a request set `name`: `patterns` are exact names, or prefixes
 * ending in `*` (`APP_*`; `*` alone is any name). Case-sensitive, as env names are on Linux.
 * The denylist is checked separately and wins over any pattern.
 */
export function envNameAllowed(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

/** What may precede the `*` of an env prefix pattern (empty: `*` alone). */
export const ENV_NAME_PREFIX_PATTERN = /^(?:[A-Za-z_][A-Za-z0-9_]*)?$/;
