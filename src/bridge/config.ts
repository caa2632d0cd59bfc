import { readFileSync } from 'node:fs';
import {
  DEFAULT_COLLECTION,
  FIXED_ENV,
  JOB_NAME_PATTERN,
  parseJobPolicyText,
  type JobPolicies,
} from '../contract/index.ts';

/** Where Google publishes the PEM certificates that sign push OIDC tokens. */
export const GOOGLE_PEM_CERTS_URL = 'https://www.googleapis.com/oauth2/v1/certs';

/** The crash points a test may ask the bridge to die at (see test-fault.ts). */
export const TEST_FAULTS = ['after-claim', 'after-launch'] as const;
export type TestFault = (typeof TEST_FAULTS)[number];

/** Env names of the bridge's own settings (the fixed ones are in the contract's FIXED_ENV). */
export const BRIDGE_ENV = {
  ...FIXED_ENV,
  host: 'JOBBRIDGE_LISTEN_HOST',
  pushCertsUrl: 'JOBBRIDGE_PUSH_CERTS_URL',
  leaseMs: 'JOBBRIDGE_LEASE_MS',
  budgetMs: 'JOBBRIDGE_BUDGET_MS',
  retentionDays: 'JOBBRIDGE_RETENTION_DAYS',
  bodyLimitBytes: 'JOBBRIDGE_BODY_LIMIT_BYTES',
  shutdownGraceMs: 'JOBBRIDGE_SHUTDOWN_GRACE_MS',
  runJobPerMinute: 'JOBBRIDGE_RUNJOB_PER_MINUTE',
  runJobBurst: 'JOBBRIDGE_RUNJOB_BURST',
  maxConcurrentLaunches: 'JOBBRIDGE_MAX_CONCURRENT_LAUNCHES',
  keyConcurrency: 'JOBBRIDGE_KEY_CONCURRENCY',
  logLevel: 'LOG_LEVEL',
  testFault: 'JOBBRIDGE_TEST_FAULT',
  testFaultsEnabled: 'JOBBRIDGE_TEST_FAULTS_ENABLED',
  deadLetterAudience: 'JOBBRIDGE_DEAD_LETTER_AUDIENCE',
  deadLetterServiceAccount: 'JOBBRIDGE_DEAD_LETTER_SERVICE_ACCOUNT',
  reconcileAudience: 'JOBBRIDGE_RECONCILE_AUDIENCE',
  reconcileServiceAccount: 'JOBBRIDGE_RECONCILE_SERVICE_ACCOUNT',
  pushSubscriptions: 'JOBBRIDGE_PUSH_SUBSCRIPTIONS',
  deadLetterSubscriptions: 'JOBBRIDGE_DEAD_LETTER_SUBSCRIPTIONS',
  /** Set by Cloud Run in every service instance: how the bridge knows it is in production. */
  cloudRunService: 'K_SERVICE',
} as const;

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
  logLevel: string;
  cloudRunEmulatorHost: string | undefined;
  /** Only ever set when JOBBRIDGE_TEST_FAULTS_ENABLED=true. */
  testFault: TestFault | undefined;
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

/** One problem with one env var. */
export interface ConfigIssue {
  name: string;
  reason: string;
}

/** The environment did not make a valid config; lists every problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i.name}: ${i.reason}`).join('\n')}`);
    this.issues = issues;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads settings one by one, collecting every problem instead of stopping at the first. */
class EnvReader {
  readonly issues: ConfigIssue[] = [];
  private readonly env: Env;
  constructor(env: Env) {
    this.env = env;
  }

  raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === '' ? undefined : value;
  }

  required(name: string, what: string): string {
    const value = this.raw(name);
    if (value === undefined) this.issues.push({ name, reason: `is required (${what})` });
    return value ?? '';
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      this.issues.push({
        name,
        reason: `must be an integer from ${min} to ${max}, got "${value}"`,
      });
      return fallback;
    }
    return n;
  }

  bool(name: string): boolean {
    const value = this.raw(name);
    if (value === undefined || value === 'false') return false;
    if (value === 'true') return true;
    this.issues.push({ name, reason: `must be "true" or "false", got "${value}"` });
    return false;
  }

  fail(name: string, reason: string): void {
    this.issues.push({ name, reason });
  }
}

function readJobs(r: EnvReader): Set<string> {
  const raw = r.required(BRIDGE_ENV.jobs, 'comma-separated job names the bridge may run');
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of names) {
    if (!JOB_NAME_PATTERN.test(name)) {
      r.fail(
        BRIDGE_ENV.jobs,
        `"${name}" is not a Cloud Run job name ([a-z][-a-z0-9]*, at most 63)`,
      );
    }
  }
  if (raw !== '' && names.length === 0) r.fail(BRIDGE_ENV.jobs, 'lists no job name');
  return new Set(names);
}

/**
 * JOBBRIDGE_JOB_POLICY (JSON) or JOBBRIDGE_JOB_POLICY_FILE (a file of the same JSON), never both.
 * Every entry must be for a job on the allowlist: an entry for another name is a typo that would
 * leave the intended job on the defaults.
 */
function readPolicies(r: EnvReader, jobs: ReadonlySet<string>): JobPolicies {
  const inline = r.raw(BRIDGE_ENV.jobPolicy);
  const file = r.raw(BRIDGE_ENV.jobPolicyFile);
  if (inline !== undefined && file !== undefined) {
    r.fail(BRIDGE_ENV.jobPolicyFile, `cannot be set together with ${BRIDGE_ENV.jobPolicy}`);
    return new Map();
  }
  let text = inline;
  let name: string = BRIDGE_ENV.jobPolicy;
  if (file !== undefined) {
    name = BRIDGE_ENV.jobPolicyFile;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err: unknown) {
      const code = (err as { code?: string }).code ?? String(err);
      r.fail(name, `cannot read ${file} (${code})`);
      return new Map();
    }
  }
  if (text === undefined) return new Map();
  const parsed = parseJobPolicyText(text);
  if (!parsed.ok) {
    for (const i of parsed.error.issues) r.fail(name, `${i.path}: ${i.reason}`);
    return new Map();
  }
  for (const job of parsed.value.keys()) {
    if (!jobs.has(job)) r.fail(name, `${job}: is not on ${BRIDGE_ENV.jobs}`);
  }
  return parsed.value;
}

/** Whether the backends are the local emulators (insecure push is only for those). */
function onEmulators(r: EnvReader): boolean {
  return (
    r.raw(BRIDGE_ENV.firestoreEmulatorHost) !== undefined &&
    r.raw(BRIDGE_ENV.cloudRunEmulatorHost) !== undefined
  );
}

/** `https://host/pubsub/push` → `https://host<path>`: the URL Pub/Sub or Scheduler sends by default. */
function routeAudience(pushAudience: string, path: string): string | undefined {
  if (!URL.canParse(pushAudience)) return undefined;
  const url = new URL(pushAudience);
  if (!url.pathname.endsWith(PUSH_ROUTE_PATH)) return undefined;
  url.pathname = url.pathname.slice(0, -PUSH_ROUTE_PATH.length) + path;
  return url.toString();
}

const PUSH_ROUTE_PATH = '/pubsub/push';

function readRouteAuth(
  r: EnvReader,
  names: { audience: string; serviceAccount: string },
  push: RouteAuth,
  path: string,
): RouteAuth {
  const audience = r.raw(names.audience) ?? routeAudience(push.audience, path);
  if (audience === undefined && push.audience !== '') {
    r.fail(
      names.audience,
      `is required when ${BRIDGE_ENV.pushAudience} is not a URL ending in ${PUSH_ROUTE_PATH} (each route checks its own audience)`,
    );
  }
  const serviceAccount = r.raw(names.serviceAccount) ?? push.serviceAccount;
  if (serviceAccount !== '' && !serviceAccount.includes('@')) {
    r.fail(names.serviceAccount, 'must be a service account email');
  }
  return { audience: audience ?? '', serviceAccount };
}

/** A loopback URL, for tests that serve their own certificates. */
function isLoopback(url: URL): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

function readCertsUrl(r: EnvReader): string {
  const certsUrl = r.raw(BRIDGE_ENV.pushCertsUrl) ?? GOOGLE_PEM_CERTS_URL;
  if (!URL.canParse(certsUrl)) {
    r.fail(BRIDGE_ENV.pushCertsUrl, 'must be a URL');
    return certsUrl;
  }
  const url = new URL(certsUrl);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url))) {
    r.fail(BRIDGE_ENV.pushCertsUrl, 'must be https (plain http only to a loopback host)');
  }
  if (
    certsUrl !== GOOGLE_PEM_CERTS_URL &&
    r.raw(BRIDGE_ENV.cloudRunService) !== undefined &&
    !onEmulators(r)
  ) {
    // Whoever controls the key set mints push tokens: on Cloud Run only Google's will do.
    r.fail(BRIDGE_ENV.pushCertsUrl, `must be ${GOOGLE_PEM_CERTS_URL} on Cloud Run (K_SERVICE)`);
  }
  return certsUrl;
}

function readPushAuth(r: EnvReader): PushAuthConfig {
  if (r.bool(BRIDGE_ENV.insecurePush)) {
    if (r.raw(BRIDGE_ENV.pushAudience) !== undefined) {
      r.fail(
        BRIDGE_ENV.insecurePush,
        `cannot be true while ${BRIDGE_ENV.pushAudience} is set: an audience means tokens are expected`,
      );
    }
    if (r.raw(BRIDGE_ENV.cloudRunService) !== undefined && !onEmulators(r)) {
      r.fail(
        BRIDGE_ENV.insecurePush,
        `cannot be true on Cloud Run (K_SERVICE is set) unless ${BRIDGE_ENV.firestoreEmulatorHost} and ${BRIDGE_ENV.cloudRunEmulatorHost} point at emulators`,
      );
    }
    return { mode: 'insecure' };
  }
  const audience = r.required(BRIDGE_ENV.pushAudience, 'the audience of push OIDC tokens');
  const serviceAccount = r.required(
    BRIDGE_ENV.pushServiceAccount,
    'the service account email of push OIDC tokens',
  );
  if (serviceAccount !== '' && !serviceAccount.includes('@')) {
    r.fail(BRIDGE_ENV.pushServiceAccount, 'must be a service account email');
  }
  const push = { audience, serviceAccount };
  const deadLetter = readRouteAuth(
    r,
    {
      audience: BRIDGE_ENV.deadLetterAudience,
      serviceAccount: BRIDGE_ENV.deadLetterServiceAccount,
    },
    push,
    '/pubsub/dead-letter',
  );
  const reconcile = readRouteAuth(
    r,
    { audience: BRIDGE_ENV.reconcileAudience, serviceAccount: BRIDGE_ENV.reconcileServiceAccount },
    push,
    '/reconcile',
  );
  return { mode: 'oidc', ...push, certsUrl: readCertsUrl(r), deadLetter, reconcile };
}

const SUBSCRIPTION_NAME = /^projects\/[^/\s]+\/subscriptions\/[^/\s]+$/;

/** A comma-separated list of subscriptions; short names are taken as this project's. */
function readSubscriptions(r: EnvReader, name: string, projectId: string) {
  const raw = r.raw(name);
  if (raw === undefined) return undefined;
  const names = new Set<string>();
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const full = item.includes('/') ? item : `projects/${projectId}/subscriptions/${item}`;
    if (!SUBSCRIPTION_NAME.test(full)) {
      r.fail(
        name,
        `"${item}" is not a subscription name (projects/<project>/subscriptions/<name>)`,
      );
    }
    names.add(full);
  }
  if (names.size === 0) r.fail(name, 'lists no subscription');
  return names;
}

function readLimits(r: EnvReader): LimitsConfig {
  const runJobPerMinute = r.int(
    BRIDGE_ENV.runJobPerMinute,
    LIMIT_DEFAULTS.runJobPerMinute,
    1,
    1_000_000,
  );
  return {
    runJobPerMinute,
    runJobBurst: r.int(
      BRIDGE_ENV.runJobBurst,
      Math.max(1, Math.ceil(runJobPerMinute / 6)),
      1,
      1_000_000,
    ),
    // 1000 is Cloud Run's cap on running executions per project and region: more is pointless.
    maxConcurrentLaunches: r.int(
      BRIDGE_ENV.maxConcurrentLaunches,
      LIMIT_DEFAULTS.maxConcurrentLaunches,
      1,
      1000,
    ),
    keyConcurrency: r.int(BRIDGE_ENV.keyConcurrency, LIMIT_DEFAULTS.keyConcurrency, 0, 1000),
  };
}

function readTestFault(r: EnvReader): TestFault | undefined {
  const fault = r.raw(BRIDGE_ENV.testFault);
  if (fault === undefined) return undefined;
  if (!r.bool(BRIDGE_ENV.testFaultsEnabled)) {
    // A crash point must never be switched on by one stray variable in production.
    r.fail(BRIDGE_ENV.testFault, `is only honoured with ${BRIDGE_ENV.testFaultsEnabled}=true`);
    return undefined;
  }
  if (!(TEST_FAULTS as readonly string[]).includes(fault)) {
    r.fail(BRIDGE_ENV.testFault, `must be one of ${TEST_FAULTS.join(', ')}`);
    return undefined;
  }
  return fault as TestFault;
}

/**
 * Builds the bridge's config from env vars (process.env in the CLI). Throws a ConfigError that
 * lists every missing or bad setting, so one start tells the operator everything to fix.
 */
export function loadBridgeConfig(env: Env): BridgeConfig {
  const r = new EnvReader(env);
  const projectId = r.required(BRIDGE_ENV.project, 'the Google Cloud project id');
  const region = r.required(BRIDGE_ENV.region, 'the Cloud Run location of the jobs');
  const jobs = readJobs(r);
  const policies = readPolicies(r, jobs);
  const collection = r.raw(BRIDGE_ENV.collection) ?? DEFAULT_COLLECTION;
  if (collection.includes('/')) r.fail(BRIDGE_ENV.collection, 'must be a collection id (no "/")');
  const pushAuth = readPushAuth(r);
  const subscriptions: ExpectedSubscriptions = {
    push: readSubscriptions(r, BRIDGE_ENV.pushSubscriptions, projectId),
    deadLetter: readSubscriptions(r, BRIDGE_ENV.deadLetterSubscriptions, projectId),
  };
  const leaseMs = r.int(BRIDGE_ENV.leaseMs, 60_000, 100, 3_600_000);
  const budgetMs = r.int(BRIDGE_ENV.budgetMs, 8_000, 50, 600_000);
  if (budgetMs >= leaseMs) {
    // A delivery still working past its lease could race the delivery that takes it over.
    r.fail(BRIDGE_ENV.budgetMs, `must be below ${BRIDGE_ENV.leaseMs} (${leaseMs})`);
  }
  const logLevel = r.raw(BRIDGE_ENV.logLevel) ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    r.fail(BRIDGE_ENV.logLevel, `must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const config: BridgeConfig = {
    projectId,
    region,
    jobs,
    policies,
    collection,
    port: r.int(BRIDGE_ENV.port, 8080, 0, 65_535),
    host: r.raw(BRIDGE_ENV.host) ?? '0.0.0.0',
    pushAuth,
    subscriptions,
    leaseMs,
    budgetMs,
    retentionDays: r.int(BRIDGE_ENV.retentionDays, 30, 1, 3650),
    bodyLimitBytes: r.int(BRIDGE_ENV.bodyLimitBytes, 1024 * 1024, 1024, 32 * 1024 * 1024),
    shutdownGraceMs: r.int(BRIDGE_ENV.shutdownGraceMs, 8_000, 0, 600_000),
    limits: readLimits(r),
    logLevel,
    cloudRunEmulatorHost: r.raw(BRIDGE_ENV.cloudRunEmulatorHost),
    testFault: readTestFault(r),
  };
  if (r.issues.length > 0) throw new ConfigError(r.issues);
  return config;
}
