import { DEFAULT_COLLECTION, FIXED_ENV } from '../contract/index.ts';

/** Env names of the reconciler's own settings (the fixed ones are in the contract's FIXED_ENV). */
export const RECONCILER_ENV = {
  staleAfterMs: 'JOBBRIDGE_RECONCILE_STALE_AFTER_MS',
  leaseGraceMs: 'JOBBRIDGE_RECONCILE_LEASE_GRACE_MS',
  heartbeatStaleMs: 'JOBBRIDGE_RECONCILE_HEARTBEAT_STALE_MS',
  pageSize: 'JOBBRIDGE_RECONCILE_PAGE_SIZE',
  maxPages: 'JOBBRIDGE_RECONCILE_MAX_PAGES',
  keyConcurrency: 'JOBBRIDGE_KEY_CONCURRENCY',
  leaseMs: 'JOBBRIDGE_LEASE_MS',
} as const;

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

export const DEFAULT_RECONCILE_OPTIONS: ReconcileOptions = {
  staleAfterMs: 120_000,
  // Pub/Sub's default retry backoff tops out at 600 s; by then a redelivery would have come.
  leaseGraceMs: 600_000,
  // Workers heartbeat every 30 s by default (JOBBRIDGE_HEARTBEAT_INTERVAL_MS): four missed beats.
  heartbeatStaleMs: 120_000,
  pageSize: 50,
};

/** Everything `jobbridge reconcile` reads from its environment, validated. */
export interface ReconcilerConfig {
  projectId: string;
  region: string;
  collection: string;
  cloudRunEmulatorHost: string | undefined;
  options: ReconcileOptions;
  /** How many pages one `jobbridge reconcile` follows before it stops (the next run goes on). */
  maxPages: number;
  /** The bridge's per-key concurrency (JOBBRIDGE_KEY_CONCURRENCY): >0 drains queued jobs too. */
  keyConcurrency: number;
  /** The lease a drained job is dispatched under (JOBBRIDGE_LEASE_MS, as the bridge's). */
  leaseMs: number;
}

/** The environment did not make a valid config; names every variable at fault and why. */
export class ReconcilerConfigError extends Error {
  override readonly name = 'ReconcilerConfigError';
  readonly issues: { name: string; reason: string }[];
  constructor(issues: { name: string; reason: string }[]) {
    super(issues.map((i) => `${i.name} ${i.reason}`).join('; '));
    this.issues = issues;
  }
}

type Env = Record<string, string | undefined>;

function readInt(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  issues: { name: string; reason: string }[],
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) {
    issues.push({ name, reason: `must be a non-negative integer, got "${raw}"` });
    return fallback;
  }
  const n = Number(raw);
  if (n < min) issues.push({ name, reason: `must be at least ${min}, got ${n}` });
  return n;
}

/** Reads the reconciler's config from `env`: the one place it looks at the environment. */
export function loadReconcilerConfig(env: Env): ReconcilerConfig {
  const issues: { name: string; reason: string }[] = [];
  const required = (name: string, why: string): string => {
    const value = env[name]?.trim();
    if (!value) issues.push({ name, reason: `is required (${why})` });
    return value ?? '';
  };
  const projectId = required(FIXED_ENV.project, 'the project of the jobs and the job documents');
  const region = required(FIXED_ENV.region, 'the Cloud Run location of the jobs');
  const collection = env[FIXED_ENV.collection]?.trim() || DEFAULT_COLLECTION;
  if (collection.includes('/'))
    issues.push({ name: FIXED_ENV.collection, reason: 'must be a top-level collection name' });
  const d = DEFAULT_RECONCILE_OPTIONS;
  const options: ReconcileOptions = {
    staleAfterMs: readInt(env, RECONCILER_ENV.staleAfterMs, d.staleAfterMs, 0, issues),
    leaseGraceMs: readInt(env, RECONCILER_ENV.leaseGraceMs, d.leaseGraceMs, 0, issues),
    heartbeatStaleMs: readInt(env, RECONCILER_ENV.heartbeatStaleMs, d.heartbeatStaleMs, 1, issues),
    pageSize: readInt(env, RECONCILER_ENV.pageSize, d.pageSize, 1, issues),
  };
  if (options.pageSize > 500)
    issues.push({ name: RECONCILER_ENV.pageSize, reason: 'must be at most 500' });
  const maxPages = readInt(env, RECONCILER_ENV.maxPages, 20, 1, issues);
  const keyConcurrency = readInt(env, RECONCILER_ENV.keyConcurrency, 0, 0, issues);
  const leaseMs = readInt(env, RECONCILER_ENV.leaseMs, 60_000, 100, issues);
  if (issues.length > 0) throw new ReconcilerConfigError(issues);
  return {
    projectId,
    region,
    collection,
    cloudRunEmulatorHost: env[FIXED_ENV.cloudRunEmulatorHost]?.trim() || undefined,
    options,
    maxPages,
    keyConcurrency,
    leaseMs,
  };
}
