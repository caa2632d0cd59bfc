import { readFile } from 'node:fs/promises';
import type { Firestore } from '@google-cloud/firestore';
import { fileURLToPath } from 'node:url';
import { BRIDGE_ENV, RECONCILER_ENV } from '../config/index.ts';
import { FIXED_ENV } from '../contract/index.ts';
import {
  CLOUD_RUN_DEFAULT_QUOTAS,
  loadJobFile,
  startRunEmulator,
  type JobFile,
  type QuotaOptions,
} from '../emulator/index.ts';
import { createLogger } from '../log.ts';
import { startUi, type Publish, type UiServerDeps } from '../ui/index.ts';
import { startBridgeProcess } from './bridge-process.ts';
import {
  assertEmulatorToolsPresent,
  EmulatorStartError,
  startGoogleEmulators,
} from './google-emulators.ts';
import { formatLogLine } from './log-format.ts';
import { DevStackError, resolvePorts } from './ports.ts';
import { errorMessage } from '../errors/index.ts';

/** The Pub/Sub resources the stack creates (the producer's `ensureJobTopology` options). */
export interface DevTopology {
  topic: string;
  subscription: string;
  deadLetterTopic: string;
  deadLetterSubscription: string;
  pushEndpoint: string;
  deadLetterPush: { subscription: string; endpoint: string };
  retryPolicy: boolean;
}

/**
 * What the stack does with Google's clients, handed in by the CLI layer (where clients are
 * created): the stack itself starts processes and wires them, and creates no client.
 */
export interface DevStackClients {
  /** Creates the topics and subscriptions on the Pub/Sub emulator at `pubsubHost`. */
  createTopology(
    target: { projectId: string; pubsubHost: string },
    names: DevTopology,
  ): Promise<void>;
  /** The dashboard's Firestore client and publisher of job requests, on the emulators. */
  dashboard(target: {
    projectId: string;
    firestoreHost: string;
    pubsubHost: string;
    topic: string;
  }): { firestore: Firestore; publish: Publish; close(): Promise<void> };
}

/** Everything `jobbridge dev` can be told; ports of 0 are picked free. */
export interface DevStackOptions {
  projectId: string;
  /** JOBBRIDGE_REGION given to the bridge; the Cloud Run Jobs emulator accepts any location. */
  region: string;
  collection: string;
  topic: string;
  /** The emulator's job file; its job names become the bridge's allowlist. */
  jobFile: string;
  clients: DevStackClients;
  pubsubPort: number;
  firestorePort: number;
  runPort: number;
  bridgePort: number;
  /** The dashboard's port (`jobbridge ui`, cancel allowed); default 0, a free one. */
  uiPort?: number;
  /** How the dashboard prices a job from its recorded durations. */
  uiCost?: UiServerDeps['costOf'];
  /** Receives each line of every part, already prefixed with where it comes from. */
  log: (line: string) => void;
  /** Also pass on the Google emulators' own (Java) output. */
  verbose?: boolean;
  /** How often the reconciler runs (`POST /reconcile` on the bridge); 0 turns it off. */
  reconcileIntervalMs?: number;
  /** The Cloud Run Jobs emulator's RunJob quotas; default Cloud Run's (CLOUD_RUN_DEFAULT_QUOTAS). */
  runQuotas?: QuotaOptions;
  /** Told each process group the stack starts, as soon as it starts (for a last-resort kill). */
  onProcessGroup?: (pgid: number) => void;
}

/** The running stack: where each part listens, and the env a client needs to use it. */
export interface DevStack {
  readonly projectId: string;
  readonly topic: string;
  readonly subscription: string;
  readonly deadLetterTopic: string;
  readonly deadLetterSubscription: string;
  /** Push subscription on the dead-letter topic to the bridge's `/pubsub/dead-letter`. */
  readonly deadLetterPushSubscription: string;
  readonly jobs: readonly string[];
  readonly hosts: { pubsub: string; firestore: string; run: string; bridge: string };
  /** Where the Cloud Run Jobs emulator keeps each task's output (the Tasks' `logUri`). */
  readonly runLogDir: string;
  /** The dashboard's jobs page. */
  readonly uiUrl: string;
  /** What `jobbridge publish / watch / status` need: print it as `export …`. */
  readonly clientEnv: Readonly<Record<string, string>>;
  /** Resolves with a reason when a part (the bridge) stops on its own. */
  readonly failed: Promise<string>;
  /** Stops the bridge, then the Cloud Run Jobs emulator and its tasks, then the emulators. */
  stop(): Promise<void>;
}

/** Job files say `node` for the image's runtime; here that is the Node running the stack. */
function withThisNode(jobs: JobFile): JobFile {
  const out: JobFile = { jobs: {} };
  for (const [name, spec] of Object.entries(jobs.jobs)) {
    const [program, ...rest] = spec.command;
    out.jobs[name] = {
      ...spec,
      command: program === 'node' ? [process.execPath, ...rest] : spec.command,
    };
  }
  return out;
}

function firstLine(err: unknown): string {
  const text = errorMessage(err);
  return text.split('\n')[0] ?? text;
}

/**
 * Starts the whole local path: the official Pub/Sub and Firestore emulators, the Cloud Run Jobs
 * emulator with the job file's jobs, `jobbridge serve` (push auth off: the Pub/Sub emulator's push
 * carries no OIDC token), and the topic, dead-letter topic and push subscription with the
 * production retry and dead-letter policies. On any failure whatever started is stopped and a
 * DevStackError with one line says why.
 */
export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const ports = await resolvePorts({
    pubsub: { what: 'Pub/Sub emulator', flag: '--pubsub-port', port: options.pubsubPort },
    firestore: {
      what: 'Firestore emulator',
      flag: '--firestore-port',
      port: options.firestorePort,
    },
    run: { what: 'Cloud Run Jobs emulator', flag: '--run-port', port: options.runPort },
    bridge: { what: 'bridge', flag: '--bridge-port', port: options.bridgePort },
    ui: { what: 'dashboard', flag: '--ui-port', port: options.uiPort ?? 0 },
  });
  try {
    assertEmulatorToolsPresent();
  } catch (err: unknown) {
    throw new DevStackError(firstLine(err), { cause: err });
  }
  let loaded;
  try {
    loaded = await loadJobFile(options.jobFile);
  } catch (err: unknown) {
    throw new DevStackError(firstLine(err), { cause: err });
  }
  const jobs = Object.keys(loaded.jobs.jobs);
  const stops: (() => Promise<void>)[] = [];
  const group = (pgid: number): void => options.onProcessGroup?.(pgid);
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    // allSettled: when one fails, the other has still registered its stop before we clean up.
    const [googleResult, runResult] = await Promise.allSettled([
      startGoogleEmulators({
        pubsubPort: ports.pubsub,
        firestorePort: ports.firestore,
        onLine: (kind, line) => options.verbose && options.log(formatLogLine(kind, line)),
      }).then((started) => {
        stops.push(() => started.stop());
        group(started.pubsub.pid);
        group(started.firestore.pid);
        return started;
      }),
      startRunEmulator({
        jobs: withThisNode(loaded.jobs),
        baseDir: loaded.baseDir,
        port: ports.run,
        host: '127.0.0.1',
        quotas: options.runQuotas ?? CLOUD_RUN_DEFAULT_QUOTAS,
        taskEnv: {
          [FIXED_ENV.firestoreEmulatorHost]: `127.0.0.1:${ports.firestore}`,
          [FIXED_ENV.project]: options.projectId,
          [FIXED_ENV.collection]: options.collection,
        },
        log: (line) => options.log(formatLogLine('run', line)),
      }).then((started) => {
        stops.push(() => started.stop());
        return started;
      }),
    ]);
    if (googleResult.status === 'rejected') throw googleResult.reason;
    if (runResult.status === 'rejected') throw runResult.reason;
    const [google, run] = [googleResult.value, runResult.value];
    const bridge = await startBridgeProcess({
      port: ports.bridge,
      env: bridgeEnv(options, { ...ports, jobs, firestore: google.firestore.host, run: run.host }),
      onLine: (line) => options.log(formatLogLine('bridge', line)),
    });
    stops.push(() => bridge.stop());
    group(bridge.pid);
    let stopping = false;
    const failed = bridge.exited.then(({ code, signal }) =>
      stopping
        ? new Promise<string>(() => undefined)
        : `the bridge exited (code ${code}, signal ${signal})`,
    );

    const names = {
      subscription: `${options.topic}-bridge`,
      deadLetterTopic: `${options.topic}-dead-letter`,
      // The Pub/Sub emulator forwards dead letters only to a topic that has a pull subscription:
      // this one keeps them readable, and the push one below hands them to the bridge.
      deadLetterSubscription: `${options.topic}-dead-letter`,
      deadLetterPushSubscription: `${options.topic}-dead-letter-bridge`,
    };
    await options.clients.createTopology(
      { projectId: options.projectId, pubsubHost: google.pubsub.host },
      {
        topic: options.topic,
        ...names,
        pushEndpoint: `${bridge.url}/pubsub/push`,
        deadLetterPush: {
          subscription: names.deadLetterPushSubscription,
          endpoint: `${bridge.url}/pubsub/dead-letter`,
        },
        // The emulator stops redelivering refused pushes when a retry policy is set.
        retryPolicy: false,
      },
    );
    const dashboard = options.clients.dashboard({
      projectId: options.projectId,
      firestoreHost: google.firestore.host,
      pubsubHost: google.pubsub.host,
      topic: options.topic,
    });
    stops.push(() => dashboard.close());
    const ui = await startUi({
      firestore: dashboard.firestore,
      collection: options.collection,
      allowCancel: true,
      bridgeUrl: bridge.url,
      // Locally the dashboard also publishes (validated as `jobbridge publish` validates).
      publish: { jobs, publish: dashboard.publish },
      taskLog: (execution, index) => readTaskLog(run.host, execution, index),
      ...(options.uiCost ? { costOf: options.uiCost } : {}),
      logger: createLogger({
        name: 'ui',
        level: 'warn',
        destination: { write: (line) => options.log(formatLogLine('ui', line.trimEnd())) },
      }),
      port: ports.ui,
      host: '127.0.0.1',
    });
    stops.push(() => ui.close());
    const reconciler = startReconcileLoop(
      `${bridge.url}/reconcile`,
      options.reconcileIntervalMs ?? 5000,
      options.log,
    );
    stops.push(() => reconciler.stop());
    return {
      projectId: options.projectId,
      topic: options.topic,
      ...names,
      jobs,
      hosts: {
        pubsub: google.pubsub.host,
        firestore: google.firestore.host,
        run: run.host,
        bridge: `127.0.0.1:${ports.bridge}`,
      },
      uiUrl: ui.url,
      runLogDir: run.logDir,
      clientEnv: {
        [FIXED_ENV.project]: options.projectId,
        [FIXED_ENV.pubsubEmulatorHost]: google.pubsub.host,
        [FIXED_ENV.firestoreEmulatorHost]: google.firestore.host,
        [FIXED_ENV.collection]: options.collection,
        JOBBRIDGE_TOPIC: options.topic,
      },
      failed,
      stop: async () => {
        stopping = true;
        await stopAll();
      },
    };
  } catch (err: unknown) {
    await stopAll();
    if (err instanceof DevStackError) throw err;
    if (err instanceof EmulatorStartError) throw new DevStackError(firstLine(err), { cause: err });
    throw new DevStackError(`the dev stack could not start: ${firstLine(err)}`, { cause: err });
  }
}

/** `jobbridge serve` is configured by env only (src/config/bridge.ts). */
function bridgeEnv(
  options: DevStackOptions,
  at: { bridge: number; jobs: string[]; firestore: string; run: string },
): NodeJS.ProcessEnv {
  const env = process.env;
  return {
    ...env,
    [FIXED_ENV.project]: options.projectId,
    [FIXED_ENV.region]: options.region,
    [FIXED_ENV.jobs]: at.jobs.join(','),
    [FIXED_ENV.collection]: options.collection,
    [FIXED_ENV.port]: String(at.bridge),
    [FIXED_ENV.insecurePush]: 'true',
    [FIXED_ENV.firestoreEmulatorHost]: at.firestore,
    [FIXED_ENV.cloudRunEmulatorHost]: at.run,
    [BRIDGE_ENV.host]: '127.0.0.1',
    // The bridge paces itself to the emulator's run quota, as an operator sets it to Cloud Run's.
    [BRIDGE_ENV.runJobPerMinute]:
      env[BRIDGE_ENV.runJobPerMinute] ??
      String((options.runQuotas ?? CLOUD_RUN_DEFAULT_QUOTAS).runJobPerMinute ?? 60),
    // Locally, a job left behind is worth finishing within seconds, not minutes.
    [RECONCILER_ENV.staleAfterMs]: env[RECONCILER_ENV.staleAfterMs] ?? '20000',
    [RECONCILER_ENV.leaseGraceMs]: env[RECONCILER_ENV.leaseGraceMs] ?? '120000',
    [RECONCILER_ENV.heartbeatStaleMs]: env[RECONCILER_ENV.heartbeatStaleMs] ?? '90000',
  };
}

/**
 * What Cloud Scheduler does in production: a reconcile pass on the bridge every `intervalMs`
 * (one at a time), its actions logged when it took any.
 */
function startReconcileLoop(
  url: string,
  intervalMs: number,
  log: (line: string) => void,
): { stop(): Promise<void> } {
  if (intervalMs <= 0) return { stop: () => Promise.resolve() };
  let running: Promise<void> = Promise.resolve();
  const pass = async (): Promise<void> => {
    try {
      // Like Cloud Scheduler's call, it drains the queue for most of the interval.
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ drainForMs: Math.max(0, intervalMs - 500) }),
        signal: AbortSignal.timeout(intervalMs * 4),
      });
      const summary = (await res.json()) as {
        actions?: Record<string, number>;
        drain?: { started?: number; adopted?: number; cancelled?: number; failed?: number };
      };
      const acted = Object.entries(summary.actions ?? {}).filter(([kind]) => kind !== 'waiting');
      const drained = Object.entries(summary.drain ?? {}).some(
        ([kind, n]) => ['started', 'adopted', 'cancelled', 'failed'].includes(kind) && n !== 0,
      );
      if (!res.ok || acted.length > 0 || drained) {
        log(formatLogLine('reconcile', `${res.status} ${JSON.stringify(summary)}`));
      }
    } catch (err: unknown) {
      log(formatLogLine('reconcile', `pass failed: ${errorMessage(err)}`));
    }
  };
  const timer = setInterval(() => {
    running = running.then(pass);
  }, intervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * A task's output, as the Cloud Run Jobs emulator keeps it: ListTasks (its HTTP/JSON API) gives
 * the task's `logUri`, a file on this machine. Undefined when the task or its log is not there.
 */
async function readTaskLog(
  runHost: string,
  execution: string,
  index: number,
): Promise<string | undefined> {
  const res = await fetch(`http://${runHost}/v2/${execution}/tasks?pageSize=10000`, {
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) return undefined;
  const { tasks } = (await res.json()) as { tasks?: { index?: number; logUri?: string }[] };
  const logUri = tasks?.find((t) => (t.index ?? 0) === index)?.logUri;
  if (!logUri?.startsWith('file:')) return undefined;
  return readFile(fileURLToPath(logUri), 'utf8').catch(() => undefined);
}
