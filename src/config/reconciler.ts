import { Issues, readVariables, type Env } from './env-reader.ts';
import { pick, VARIABLES, type LogLevel } from './variables.ts';

/** How one reconcile pass decides what is stale, and how much it does. Durations in ms. */
export interface ReconcileOptions {
  /** A non-terminal job not written for this long is looked at (the query's `updatedAt` bound). */
  staleAfterMs: number;
  /**
   * A `dispatching` lease must have been expired this long before the reconciler acts on it, so
   * that Pub/Sub's redelivery (which takes the lease over itself) gets its chance first.
   */
  leaseGraceMs: number;
  /** A running task whose heartbeat is older than this is recorded as stale. */
  heartbeatStaleMs: number;
  /** Jobs read per query per call: the bound on one call's work. */
  pageSize: number;
}

/** Env names of the reconciler's own settings (the fixed ones are in the contract's FIXED_ENV). */
export const RECONCILER_ENV = {
  staleAfterMs: VARIABLES.staleAfterMs.name,
  leaseGraceMs: VARIABLES.leaseGraceMs.name,
  heartbeatStaleMs: VARIABLES.heartbeatStaleMs.name,
  pageSize: VARIABLES.pageSize.name,
  maxPages: VARIABLES.maxPages.name,
  keyConcurrency: VARIABLES.keyConcurrency.name,
  leaseMs: VARIABLES.leaseMs.name,
  runJobPerMinute: VARIABLES.runJobPerMinute.name,
  runJobBurst: VARIABLES.runJobBurst.name,
  maxConcurrentLaunches: VARIABLES.maxConcurrentLaunches.name,
  batchMaxRequests: VARIABLES.batchMaxRequests.name,
  retentionDays: VARIABLES.retentionDays.name,
} as const;

/** The pace of one process's RunJob calls (its own share of Cloud Run's quota). */
export interface RunJobPace {
  runJobPerMinute: number;
  runJobBurst: number;
  maxConcurrentLaunches: number;
}

/**
 * The pace as the bridge and the reconciler read it; the token bucket's size, when
 * JOBBRIDGE_RUNJOB_BURST is unset, is 10 s worth of the rate, at least 1.
 */
export function runJobPace(v: {
  runJobPerMinute: number;
  runJobBurst: number | undefined;
  maxConcurrentLaunches: number;
}): RunJobPace {
  return {
    runJobPerMinute: v.runJobPerMinute,
    runJobBurst: v.runJobBurst ?? Math.max(1, Math.ceil(v.runJobPerMinute / 6)),
    maxConcurrentLaunches: v.maxConcurrentLaunches,
  };
}

/** Everything `jobbridge reconcile` reads from its environment, validated. */
export interface ReconcilerConfig {
  projectId: string;
  region: string;
  collection: string;
  cloudRunEmulatorHost: string | undefined;
  firestoreEmulatorHost: string | undefined;
  options: ReconcileOptions;
  /** How many pages one `jobbridge reconcile` follows before it stops (the next run goes on). */
  maxPages: number;
  /** The bridge's per-key concurrency (JOBBRIDGE_KEY_CONCURRENCY): the drain holds keys to it. */
  keyConcurrency: number;
  /** The lease a drained job is dispatched under (JOBBRIDGE_LEASE_MS, as the bridge's). */
  leaseMs: number;
  /** How fast the drain may call RunJob: this process's pace, as a bridge instance's. */
  pace: RunJobPace;
  /** Queued requests one execution may run together (JOBBRIDGE_BATCH_MAX_REQUESTS, as the bridge's). */
  batchMaxRequests: number;
  /** How long a batch document lives (JOBBRIDGE_RETENTION_DAYS, as the bridge's job documents). */
  retentionDays: number;
  logLevel: LogLevel;
}

const OPTION_VARIABLES = pick('staleAfterMs', 'leaseGraceMs', 'heartbeatStaleMs', 'pageSize');

/** The pass options when nothing is set: the variables' defaults. */
export const DEFAULT_RECONCILE_OPTIONS: ReconcileOptions = readVariables(
  {},
  OPTION_VARIABLES,
  new Issues(),
);

const RECONCILER_VARIABLES = {
  ...OPTION_VARIABLES,
  ...pick(
    'projectId',
    'region',
    'collection',
    'cloudRunEmulatorHost',
    'firestoreEmulatorHost',
    'maxPages',
    'keyConcurrency',
    'leaseMs',
    'runJobPerMinute',
    'runJobBurst',
    'maxConcurrentLaunches',
    'batchMaxRequests',
    'retentionDays',
    'logLevel',
  ),
};

/** The pass options and the page bound of one reconcile call. */
export type ReconcileSettings = ReconcileOptions & { maxPages: number };

/** The reconcile settings alone, for a process that runs passes besides its own work (the bridge). */
export function readReconcileSettings(env: Env, issues: Issues): ReconcileSettings {
  return readVariables(env, { ...OPTION_VARIABLES, ...pick('maxPages') }, issues);
}

/** Reads the reconciler's config from `env`; a ConfigError names every variable at fault and why. */
export function loadReconcilerConfig(env: Env = process.env): ReconcilerConfig {
  const issues = new Issues();
  const v = readVariables(env, RECONCILER_VARIABLES, issues);
  if (v.projectId === undefined)
    issues.add(
      VARIABLES.projectId.name,
      'is required (the project of the jobs and the job documents)',
    );
  if (v.region === undefined)
    issues.add(VARIABLES.region.name, 'is required (the Cloud Run location of the jobs)');
  issues.throwIfAny();
  return {
    projectId: v.projectId ?? '',
    region: v.region ?? '',
    collection: v.collection,
    cloudRunEmulatorHost: v.cloudRunEmulatorHost,
    firestoreEmulatorHost: v.firestoreEmulatorHost,
    options: {
      staleAfterMs: v.staleAfterMs,
      leaseGraceMs: v.leaseGraceMs,
      heartbeatStaleMs: v.heartbeatStaleMs,
      pageSize: v.pageSize,
    },
    maxPages: v.maxPages,
    keyConcurrency: v.keyConcurrency,
    leaseMs: v.leaseMs,
    pace: runJobPace(v),
    batchMaxRequests: v.batchMaxRequests,
    retentionDays: v.retentionDays,
    logLevel: v.logLevel ?? 'warn',
  };
}
