import { readFileSync } from 'node:fs';
import { JOB_NAME_PATTERN, parseJobPolicyText, type JobPolicies } from '../contract/index.ts';
import { Issues, readVariables, type Env } from './env-reader.ts';
import { readReconcileSettings, runJobPace, type ReconcileSettings } from './reconciler.ts';
import { pick, VARIABLES, type LogLevel, type VariableKey } from './variables.ts';

/** Where Google publishes the PEM certificates that sign push OIDC tokens. */
export const GOOGLE_PEM_CERTS_URL = 'https://www.googleapis.com/oauth2/v1/certs';

const BRIDGE_KEYS = [
  'projectId',
  'region',
  'jobs',
  'jobPolicy',
  'jobPolicyFile',
  'collection',
  'insecurePush',
  'pushAudience',
  'pushServiceAccount',
  'pushCertsUrl',
  'deadLetterAudience',
  'deadLetterServiceAccount',
  'reconcileAudience',
  'reconcileServiceAccount',
  'pushSubscriptions',
  'deadLetterSubscriptions',
  'cloudRunService',
  'port',
  'host',
  'leaseMs',
  'budgetMs',
  'retentionDays',
  'bodyLimitBytes',
  'shutdownGraceMs',
  'runJobPerMinute',
  'runJobBurst',
  'maxConcurrentLaunches',
  'batchMaxRequests',
  'keyConcurrency',
  'logLevel',
  'cloudRunEmulatorHost',
  'firestoreEmulatorHost',
] as const satisfies readonly VariableKey[];

const BRIDGE_VARIABLES = pick(...BRIDGE_KEYS);

/** Env names of the bridge's settings, by their config key. */
export const BRIDGE_ENV = Object.fromEntries(
  BRIDGE_KEYS.map((key) => [key, VARIABLES[key].name]),
) as { readonly [K in (typeof BRIDGE_KEYS)[number]]: string };

/** What an OIDC token for one route must carry. */
export interface RouteAuth {
  audience: string;
  serviceAccount: string;
}

/**
 * Push authentication: either verified OIDC tokens, or explicitly none. The push route checks
 * `audience` and `serviceAccount`; the dead-letter and reconcile routes their own (the same as
 * the push route's when a test config leaves them out).
 */
export type PushAuthConfig =
  | {
      mode: 'oidc';
      audience: string;
      serviceAccount: string;
      certsUrl: string;
      deadLetter?: RouteAuth;
      reconcile?: RouteAuth;
    }
  | { mode: 'insecure' };

/** Full subscription names (`projects/p/subscriptions/s`) a route accepts envelopes from. */
export interface ExpectedSubscriptions {
  /** Undefined: any subscription (JOBBRIDGE_PUSH_SUBSCRIPTIONS unset). */
  push: ReadonlySet<string> | undefined;
  deadLetter: ReadonlySet<string> | undefined;
}

/**
 * Backpressure defaults, matched to Cloud Run's quotas (https://cloud.google.com/run/quotas):
 * the Admin API's "Job run requests per minute per region" quota (60 is the lowest default
 * reported; it varies by project, see the quota page in the console) and "Maximum number of
 * running job executions" (1000 per project and region).
 */
export const LIMIT_DEFAULTS = {
  runJobPerMinute: 60,
  maxConcurrentLaunches: 32,
  /** 0: per-key concurrency off. */
  keyConcurrency: 0,
} as const;

/** The per-instance limits. */
export interface LimitsConfig {
  runJobPerMinute: number;
  /** Token bucket size; default a sixth of the per-minute rate (10 s worth), at least 1. */
  runJobBurst: number;
  maxConcurrentLaunches: number;
  /** At most this many jobs of one `concurrencyKey` dispatched or running; 0 turns it off. */
  keyConcurrency: number;
}

/** Every setting of `jobbridge serve`, validated. Durations carry their unit in the name. */
export interface BridgeConfig {
  projectId: string;
  region: string;
  /** The allowlist: job names a request may name. */
  jobs: ReadonlySet<string>;
  /** What a request for each job may ask for; a job without an entry gets the defaults. */
  policies: JobPolicies;
  collection: string;
  port: number;
  host: string;
  pushAuth: PushAuthConfig;
  subscriptions: ExpectedSubscriptions;
  /** How long a claim holds a request id before another delivery may take it over. */
  leaseMs: number;
  /** Each delivery is answered within this; keep it below the subscription's ack deadline. */
  budgetMs: number;
  /** Job documents expire (Firestore TTL on `expireAt`) after this: the dedup window. */
  retentionDays: number;
  bodyLimitBytes: number;
  shutdownGraceMs: number;
  /** Backpressure of this instance (docs/operations.md, "Backpressure and quotas"). */
  limits: LimitsConfig;
  /**
   * Queued requests one execution may run together (JOBBRIDGE_BATCH_MAX_REQUESTS); 1 turns
   * batching off (docs/operations.md, "Batches").
   */
  batchMaxRequests: number;
  logLevel: LogLevel;
  cloudRunEmulatorHost: string | undefined;
  firestoreEmulatorHost: string | undefined;
  /** How `POST /reconcile` decides what is stale: the same settings as `jobbridge reconcile`. */
  reconcile?: ReconcileSettings;
}

type Values = ReturnType<typeof readVariables<typeof BRIDGE_VARIABLES>>;

function readJobs(v: Values, issues: Issues): Set<string> {
  const name = VARIABLES.jobs.name;
  if (v.jobs === undefined) {
    issues.add(name, 'is required (comma-separated job names the bridge may run)');
    return new Set();
  }
  const names = v.jobs
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const job of names) {
    if (!JOB_NAME_PATTERN.test(job))
      issues.add(name, `"${job}" is not a Cloud Run job name ([a-z][-a-z0-9]*, at most 63)`);
  }
  if (names.length === 0) issues.add(name, 'lists no job name');
  return new Set(names);
}

/**
 * JOBBRIDGE_JOB_POLICY (JSON) or JOBBRIDGE_JOB_POLICY_FILE (a file of the same JSON), never both.
 * Every entry must be for a job on the allowlist: an entry for another name is a typo that would
 * leave the intended job on the defaults.
 */
function readPolicies(v: Values, jobs: ReadonlySet<string>, issues: Issues): JobPolicies {
  const inlineName = VARIABLES.jobPolicy.name;
  const fileName = VARIABLES.jobPolicyFile.name;
  if (v.jobPolicy !== undefined && v.jobPolicyFile !== undefined) {
    issues.add(fileName, `cannot be set together with ${inlineName}`);
    return new Map();
  }
  let text = v.jobPolicy;
  let name = inlineName;
  if (v.jobPolicyFile !== undefined) {
    name = fileName;
    try {
      text = readFileSync(v.jobPolicyFile, 'utf8');
    } catch (err: unknown) {
      const code = (err as { code?: string }).code ?? String(err);
      issues.add(name, `cannot read ${v.jobPolicyFile} (${code})`);
      return new Map();
    }
  }
  if (text === undefined) return new Map();
  const parsed = parseJobPolicyText(text);
  if (!parsed.ok) {
    for (const i of parsed.error.issues) issues.add(name, `${i.path}: ${i.reason}`);
    return new Map();
  }
  for (const job of parsed.value.keys()) {
    if (!jobs.has(job)) issues.add(name, `${job}: is not on ${VARIABLES.jobs.name}`);
  }
  return parsed.value;
}

/** Whether the backends are the local emulators (insecure push is only for those). */
function onEmulators(v: Values): boolean {
  return v.firestoreEmulatorHost !== undefined && v.cloudRunEmulatorHost !== undefined;
}

const PUSH_ROUTE_PATH = '/pubsub/push';

/** `https://host/pubsub/push` → `https://host<path>`: the URL Pub/Sub or Scheduler sends by default. */
function routeAudience(pushAudience: string, path: string): string | undefined {
  if (!URL.canParse(pushAudience)) return undefined;
  const url = new URL(pushAudience);
  if (!url.pathname.endsWith(PUSH_ROUTE_PATH)) return undefined;
  url.pathname = url.pathname.slice(0, -PUSH_ROUTE_PATH.length) + path;
  return url.toString();
}

/**
 * The OIDC audience and service account of the route at `path`, read from the variables
 * `<route>Audience` and `<route>ServiceAccount`; each defaults to the push route's.
 */
function readRouteAuth(
  issues: Issues,
  v: Values,
  route: 'deadLetter' | 'reconcile',
  push: RouteAuth,
  path: string,
): RouteAuth {
  const given = { audience: v[`${route}Audience`], serviceAccount: v[`${route}ServiceAccount`] };
  const names = {
    audience: VARIABLES[`${route}Audience`].name,
    serviceAccount: VARIABLES[`${route}ServiceAccount`].name,
  };
  const audience = given.audience ?? routeAudience(push.audience, path);
  if (audience === undefined && push.audience !== '') {
    issues.add(
      names.audience,
      `is required when ${VARIABLES.pushAudience.name} is not a URL ending in ${PUSH_ROUTE_PATH} (each route checks its own audience)`,
    );
  }
  const serviceAccount = given.serviceAccount ?? push.serviceAccount;
  if (serviceAccount !== '' && !serviceAccount.includes('@')) {
    issues.add(names.serviceAccount, 'must be a service account email');
  }
  return { audience: audience ?? '', serviceAccount };
}

/** A loopback URL, for tests that serve their own certificates. */
function isLoopback(url: URL): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

function readCertsUrl(v: Values, issues: Issues): string {
  const name = VARIABLES.pushCertsUrl.name;
  const certsUrl = v.pushCertsUrl ?? GOOGLE_PEM_CERTS_URL;
  if (!URL.canParse(certsUrl)) {
    issues.add(name, 'must be a URL');
    return certsUrl;
  }
  const url = new URL(certsUrl);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url))) {
    issues.add(name, 'must be https (plain http only to a loopback host)');
  }
  if (certsUrl !== GOOGLE_PEM_CERTS_URL && v.cloudRunService !== undefined && !onEmulators(v)) {
    // Whoever controls the key set mints push tokens: on Cloud Run only Google's will do.
    issues.add(name, `must be ${GOOGLE_PEM_CERTS_URL} on Cloud Run (K_SERVICE)`);
  }
  return certsUrl;
}

function readPushAuth(v: Values, issues: Issues): PushAuthConfig {
  if (v.insecurePush) {
    if (v.pushAudience !== undefined) {
      issues.add(
        VARIABLES.insecurePush.name,
        `cannot be true while ${VARIABLES.pushAudience.name} is set: an audience means tokens are expected`,
      );
    }
    if (v.cloudRunService !== undefined && !onEmulators(v)) {
      issues.add(
        VARIABLES.insecurePush.name,
        `cannot be true on Cloud Run (K_SERVICE is set) unless ${VARIABLES.firestoreEmulatorHost.name} and ${VARIABLES.cloudRunEmulatorHost.name} point at emulators`,
      );
    }
    return { mode: 'insecure' };
  }
  if (v.pushAudience === undefined)
    issues.add(VARIABLES.pushAudience.name, 'is required (the audience of push OIDC tokens)');
  if (v.pushServiceAccount === undefined) {
    issues.add(
      VARIABLES.pushServiceAccount.name,
      'is required (the service account email of push OIDC tokens)',
    );
  } else if (!v.pushServiceAccount.includes('@')) {
    issues.add(VARIABLES.pushServiceAccount.name, 'must be a service account email');
  }
  const push = { audience: v.pushAudience ?? '', serviceAccount: v.pushServiceAccount ?? '' };
  const deadLetter = readRouteAuth(issues, v, 'deadLetter', push, '/pubsub/dead-letter');
  const reconcile = readRouteAuth(issues, v, 'reconcile', push, '/reconcile');
  return { mode: 'oidc', ...push, certsUrl: readCertsUrl(v, issues), deadLetter, reconcile };
}

const SUBSCRIPTION_NAME = /^projects\/[^/\s]+\/subscriptions\/[^/\s]+$/;

/** A comma-separated list of subscriptions; short names are taken as this project's. */
function readSubscriptions(
  raw: string | undefined,
  name: string,
  projectId: string,
  issues: Issues,
): Set<string> | undefined {
  if (raw === undefined) return undefined;
  const names = new Set<string>();
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const full = item.includes('/') ? item : `projects/${projectId}/subscriptions/${item}`;
    if (!SUBSCRIPTION_NAME.test(full)) {
      issues.add(
        name,
        `"${item}" is not a subscription name (projects/<project>/subscriptions/<name>)`,
      );
    }
    names.add(full);
  }
  if (names.size === 0) issues.add(name, 'lists no subscription');
  return names;
}

/**
 * The allowlist and policies alone, for processes that start queued requests without serving
 * pushes (`jobbridge reconcile`). JOBBRIDGE_JOBS unset gives an empty allowlist.
 */
export function loadRequestCheck(env: Env = process.env): {
  jobs: ReadonlySet<string>;
  policies: JobPolicies;
} {
  const issues = new Issues();
  const v = readVariables(env, BRIDGE_VARIABLES, issues);
  const jobs = v.jobs === undefined ? new Set<string>() : readJobs(v, issues);
  const policies = readPolicies(v, jobs, issues);
  issues.throwIfAny();
  return { jobs, policies };
}

/**
 * Builds the bridge's config from env vars (process.env in the CLI). Throws a ConfigError that
 * lists every missing or bad setting, so one start tells the operator everything to fix.
 */
export function loadBridgeConfig(env: Env = process.env): BridgeConfig {
  const issues = new Issues();
  const v = readVariables(env, BRIDGE_VARIABLES, issues);
  if (v.projectId === undefined)
    issues.add(VARIABLES.projectId.name, 'is required (the Google Cloud project id)');
  if (v.region === undefined)
    issues.add(VARIABLES.region.name, 'is required (the Cloud Run location of the jobs)');
  const jobs = readJobs(v, issues);
  const policies = readPolicies(v, jobs, issues);
  const pushAuth = readPushAuth(v, issues);
  const subscriptions: ExpectedSubscriptions = {
    push: readSubscriptions(
      v.pushSubscriptions,
      VARIABLES.pushSubscriptions.name,
      v.projectId ?? '',
      issues,
    ),
    deadLetter: readSubscriptions(
      v.deadLetterSubscriptions,
      VARIABLES.deadLetterSubscriptions.name,
      v.projectId ?? '',
      issues,
    ),
  };
  if (v.budgetMs !== undefined && v.leaseMs !== undefined && v.budgetMs >= v.leaseMs) {
    // A delivery still working past its lease could race the delivery that takes it over.
    issues.add(VARIABLES.budgetMs.name, `must be below ${VARIABLES.leaseMs.name} (${v.leaseMs})`);
  }
  const reconcile = readReconcileSettings(env, issues);
  issues.throwIfAny();
  return {
    projectId: v.projectId ?? '',
    region: v.region ?? '',
    jobs,
    policies,
    collection: v.collection,
    port: v.port,
    host: v.host,
    pushAuth,
    subscriptions,
    leaseMs: v.leaseMs,
    budgetMs: v.budgetMs,
    retentionDays: v.retentionDays,
    bodyLimitBytes: v.bodyLimitBytes,
    shutdownGraceMs: v.shutdownGraceMs,
    limits: { ...runJobPace(v), keyConcurrency: v.keyConcurrency },
    batchMaxRequests: v.batchMaxRequests,
    logLevel: v.logLevel ?? 'info',
    cloudRunEmulatorHost: v.cloudRunEmulatorHost,
    firestoreEmulatorHost: v.firestoreEmulatorHost,
    reconcile,
  };
}
