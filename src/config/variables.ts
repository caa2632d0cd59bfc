import {
  BRIDGE_EXECUTION_ENV,
  CLOUD_RUN_TASK_ENV,
  DEFAULT_COLLECTION,
  FIXED_ENV,
} from '../contract/index.ts';
import {
  flag,
  integer,
  oneOf,
  optionalInteger,
  text,
  textOr,
  type Variable,
  type VariableSchema,
} from './env-reader.ts';

/** pino's level names. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The default topic that producers publish job requests on. */
export const DEFAULT_TOPIC = 'jobbridge-requests';

const v = <T>(name: string, schema: VariableSchema<T>, doc: string): Variable<T> => ({
  name,
  schema,
  doc,
});

const collectionId: VariableSchema<string> = textOr(DEFAULT_COLLECTION).refine(
  (c) => !c.includes('/'),
  'must be a top-level collection name (no "/")',
);

/**
 * Every env var a jobbridge process reads, once: its name, how it is parsed and checked, and
 * what it is for. A process reads the ones it needs with `readVariables` (src/config/*.ts); to
 * add a variable, add it here and to the reader of the process that uses it.
 */
export const VARIABLES = {
  // Shared.
  projectId: v(FIXED_ENV.project, text(), 'the Google Cloud project id'),
  region: v(FIXED_ENV.region, text(), 'the Cloud Run location of the jobs'),
  collection: v(FIXED_ENV.collection, collectionId, 'Firestore collection of job documents'),
  logLevel: v('LOG_LEVEL', oneOf(LOG_LEVELS), 'pino level of the process log'),
  pubsubEmulatorHost: v(FIXED_ENV.pubsubEmulatorHost, text(), 'the official Pub/Sub emulator'),
  firestoreEmulatorHost: v(
    FIXED_ENV.firestoreEmulatorHost,
    text(),
    'the official Firestore emulator',
  ),
  cloudRunEmulatorHost: v(
    FIXED_ENV.cloudRunEmulatorHost,
    text(),
    '`jobbridge emulator`; unset means Google',
  ),
  topic: v('JOBBRIDGE_TOPIC', textOr(DEFAULT_TOPIC), 'the topic producers publish on'),
  leaseMs: v(
    'JOBBRIDGE_LEASE_MS',
    integer(60_000, 100, 3_600_000),
    'how long a claim holds a request id before another delivery may take it over',
  ),
  keyConcurrency: v(
    'JOBBRIDGE_KEY_CONCURRENCY',
    integer(0, 0, 1000),
    'at most this many jobs of one concurrencyKey dispatched or running; 0 turns it off',
  ),

  // The dashboard (`jobbridge ui`).
  uiPort: v(FIXED_ENV.port, optionalInteger(0, 65_535), "the dashboard's port, as on Cloud Run"),
  bridgeUrl: v(
    'JOBBRIDGE_BRIDGE_URL',
    text(),
    'the bridge whose GET /limitz the jobs page shows (--bridge-url)',
  ),

  // The bridge (`jobbridge serve`).
  jobs: v(FIXED_ENV.jobs, text(), 'comma-separated job names the bridge may run'),
  insecurePush: v(FIXED_ENV.insecurePush, flag(), 'turns push OIDC verification off'),
  pushAudience: v(FIXED_ENV.pushAudience, text(), 'the audience of push OIDC tokens'),
  pushServiceAccount: v(
    FIXED_ENV.pushServiceAccount,
    text(),
    'the service account email of push OIDC tokens',
  ),
  pushCertsUrl: v(
    'JOBBRIDGE_PUSH_CERTS_URL',
    text(),
    "where Google's push token certificates are fetched",
  ),
  deadLetterAudience: v(
    'JOBBRIDGE_DEAD_LETTER_AUDIENCE',
    text(),
    'the audience of dead-letter push tokens (default: the push audience with /pubsub/dead-letter)',
  ),
  deadLetterServiceAccount: v(
    'JOBBRIDGE_DEAD_LETTER_SERVICE_ACCOUNT',
    text(),
    'the service account of dead-letter push tokens (default: the push one)',
  ),
  reconcileAudience: v(
    'JOBBRIDGE_RECONCILE_AUDIENCE',
    text(),
    'the audience of POST /reconcile tokens (default: the push audience with /reconcile)',
  ),
  reconcileServiceAccount: v(
    'JOBBRIDGE_RECONCILE_SERVICE_ACCOUNT',
    text(),
    'the service account of POST /reconcile tokens (default: the push one)',
  ),
  pushSubscriptions: v(
    'JOBBRIDGE_PUSH_SUBSCRIPTIONS',
    text(),
    'subscriptions the push route accepts envelopes from (unset: any)',
  ),
  deadLetterSubscriptions: v(
    'JOBBRIDGE_DEAD_LETTER_SUBSCRIPTIONS',
    text(),
    'subscriptions the dead-letter route accepts envelopes from (unset: any)',
  ),
  cloudRunService: v(
    'K_SERVICE',
    text(),
    'set by Cloud Run in every service instance: how the bridge knows it is in production',
  ),
  port: v(FIXED_ENV.port, integer(8080, 0, 65_535), "the bridge's HTTP port"),
  host: v('JOBBRIDGE_LISTEN_HOST', textOr('0.0.0.0'), 'the address the bridge listens on'),
  budgetMs: v(
    'JOBBRIDGE_BUDGET_MS',
    integer(8_000, 50, 600_000),
    "each delivery is answered within this; below the subscription's ack deadline",
  ),
  retentionDays: v(
    'JOBBRIDGE_RETENTION_DAYS',
    integer(30, 1, 3650),
    'job documents expire (TTL on expireAt) after this: the dedup window',
  ),
  bodyLimitBytes: v(
    'JOBBRIDGE_BODY_LIMIT_BYTES',
    integer(1024 * 1024, 1024, 32 * 1024 * 1024),
    'the largest push body read',
  ),
  shutdownGraceMs: v(
    'JOBBRIDGE_SHUTDOWN_GRACE_MS',
    integer(8_000, 0, 600_000),
    'how long closing waits for work still holding a lease',
  ),
  runJobPerMinute: v(
    'JOBBRIDGE_RUNJOB_PER_MINUTE',
    integer(60, 1, 1_000_000),
    'the pace of RunJob calls an instance aims for',
  ),
  runJobBurst: v(
    'JOBBRIDGE_RUNJOB_BURST',
    optionalInteger(1, 1_000_000),
    'RunJob calls at once after a quiet spell; default a sixth of the per-minute rate',
  ),
  batchMaxRequests: v(
    'JOBBRIDGE_BATCH_MAX_REQUESTS',
    // 499: one transaction writes the batch document and each member, at most 500 writes.
    integer(100, 1, 499),
    'queued requests (same job, a function, same timeout) one execution may run together; 1 turns batching off',
  ),
  maxConcurrentLaunches: v(
    'JOBBRIDGE_MAX_CONCURRENT_LAUNCHES',
    integer(32, 1, 1000),
    'dispatches (claim, RunJob, record) in flight at once',
  ),

  jobPolicy: v('JOBBRIDGE_JOB_POLICY', text(), 'JSON: job name → what its requests may ask for'),
  jobPolicyFile: v(
    'JOBBRIDGE_JOB_POLICY_FILE',
    text(),
    'a file holding the JSON of JOBBRIDGE_JOB_POLICY',
  ),

  // The reconciler (`jobbridge reconcile`, `POST /reconcile`).
  staleAfterMs: v(
    'JOBBRIDGE_RECONCILE_STALE_AFTER_MS',
    integer(120_000, 0),
    'a non-terminal job not written for this long is looked at',
  ),
  leaseGraceMs: v(
    'JOBBRIDGE_RECONCILE_LEASE_GRACE_MS',
    // Pub/Sub's default retry backoff tops out at 600 s; by then a redelivery would have come.
    integer(600_000, 0),
    'how long past its expiry a dispatching lease is left to the Pub/Sub redelivery',
  ),
  heartbeatStaleMs: v(
    'JOBBRIDGE_RECONCILE_HEARTBEAT_STALE_MS',
    // Workers heartbeat every 30 s by default: four missed beats.
    integer(120_000, 1),
    'a running task whose heartbeat is older than this is recorded as stale',
  ),
  pageSize: v('JOBBRIDGE_RECONCILE_PAGE_SIZE', integer(50, 1, 500), 'jobs read per query per call'),
  maxPages: v(
    'JOBBRIDGE_RECONCILE_MAX_PAGES',
    integer(20, 1),
    'pages one reconcile call follows before it stops',
  ),

  // The worker (`jobbridge work`), inside a Cloud Run Jobs task.
  requestId: v(BRIDGE_EXECUTION_ENV.requestId, text(), 'set by the bridge on every execution'),
  jobDocumentId: v(
    BRIDGE_EXECUTION_ENV.jobDocumentId,
    text(),
    'the job document id, when the request id was hashed',
  ),
  maxRetries: v(
    BRIDGE_EXECUTION_ENV.maxRetries,
    optionalInteger(0),
    "the job's maxRetries, as the bridge read it",
  ),
  batchId: v(
    BRIDGE_EXECUTION_ENV.batchId,
    text(),
    'set by the bridge on an execution that runs a batch (`work --batch`)',
  ),
  batchDigest: v(
    BRIDGE_EXECUTION_ENV.batchDigest,
    text(),
    'the digest the batch document must match before a task runs its member',
  ),
  cancelPollMs: v(
    'JOBBRIDGE_CANCEL_POLL_MS',
    integer(3000, 100, 600_000),
    "how often a batch member's task reads its job for a cancel",
  ),
  cloudRunJob: v(CLOUD_RUN_TASK_ENV.job, textOr('local'), 'set by Cloud Run'),
  cloudRunExecution: v(CLOUD_RUN_TASK_ENV.execution, textOr('local'), 'set by Cloud Run'),
  taskIndex: v(CLOUD_RUN_TASK_ENV.taskIndex, integer(0, 0), 'set by Cloud Run'),
  taskCount: v(CLOUD_RUN_TASK_ENV.taskCount, integer(1, 1), 'set by Cloud Run'),
  taskAttempt: v(CLOUD_RUN_TASK_ENV.taskAttempt, integer(0, 0), 'set by Cloud Run'),
  heapPercentage: v(
    'JOBBRIDGE_HEAP_PERCENTAGE',
    integer(75, 1, 100),
    "percentage of the container's memory given to the V8 heap",
  ),
  progressIntervalMs: v(
    'JOBBRIDGE_PROGRESS_INTERVAL_MS',
    integer(1000, 1),
    'progress is written at most this often per document',
  ),
  heartbeatIntervalMs: v(
    'JOBBRIDGE_HEARTBEAT_INTERVAL_MS',
    integer(30_000, 1),
    'how often a running task heartbeats',
  ),
  termGraceMs: v(
    'JOBBRIDGE_TERM_GRACE_MS',
    integer(5000, 0),
    'how long after SIGTERM the function may take before the attempt is recorded anyway',
  ),
  cgroupRoot: v(
    'JOBBRIDGE_CGROUP_ROOT',
    textOr('/sys/fs/cgroup'),
    'root of the cgroup file system the memory limit is read from',
  ),
  nodeOptions: v('NODE_OPTIONS', text(), "Node's own options (a heap flag there wins)"),
  heapSized: v(
    'JOBBRIDGE_HEAP_SIZED',
    flag(),
    'set on a worker re-executed with its heap sized, so it never re-executes again',
  ),
} satisfies Record<string, Variable<unknown>>;

export type VariableKey = keyof typeof VARIABLES;

/** The subset of `VARIABLES` named by `keys`, for `readVariables`. */
export function pick<K extends VariableKey>(...keys: K[]): Pick<typeof VARIABLES, K> {
  const out = {} as Pick<typeof VARIABLES, K>;
  for (const key of keys) out[key] = VARIABLES[key];
  return out;
}
