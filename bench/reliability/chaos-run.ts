import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { freePort } from '../../src/devstack/google-emulators.ts';
import {
  CLOUD_RUN_DEFAULT_QUOTAS,
  loadJobFile,
  startRunEmulator,
} from '../../src/emulator/index.ts';
import { CloudRunLauncher, createRunClients } from '../../src/launcher/index.ts';
import { reconcileAll, type ReconcileAllDeps } from '../../src/reconciler/index.ts';
import { maxInWindow } from './burst-run.ts';
import { RestartingBridge } from './chaos-bridge.ts';
import { CHAOS_JOB, planLoad, prng, publishPlanned } from './chaos-plan.ts';
import { verifyChaos, type ChaosVerdict } from './chaos-verify.ts';

const JOBS_FILE = fileURLToPath(new URL('../../examples/jobs.json', import.meta.url));
const REGION = 'local';

export interface ChaosOptions {
  requests: number;
  /** false: the same load with no bridge kills, no RunJob faults and no worker kills. */
  faults: boolean;
  pubsubHost: string;
  firestoreHost: string;
  publishPerSecond: number;
  /** The bridge is SIGKILLed and restarted every this many ms (random in the range). */
  restartEveryMs?: [number, number];
  seed?: number;
  /** How long the run may take to settle after the last publish. */
  settleTimeoutMs?: number;
  /**
   * The Cloud Run Jobs emulator's run quota (RESOURCE_EXHAUSTED past it, as Cloud Run answers),
   * and the bridge's pace: Cloud Run's defaults unless given.
   */
  quota?: { runJobPerMinute: number; maxRunningExecutions: number };
  progress?: (line: string) => void;
}

export interface ChaosReport extends ChaosVerdict {
  faults: boolean;
  requests: number;
  duplicates: number;
  invalid: number;
  distinctValid: number;
  bridgeRestarts: number;
  runJobFaultsInjected: number;
  workersKilled: number;
  /** Reconciler actions other than waiting/checked, by kind. */
  reconcilerActions: Record<string, number>;
  bridgeOutcomes: Record<string, number>;
  /** The emulator's run quota in this run. */
  quotaPerMinute: number;
  /** The most executions started in any 60 s: never above the quota. */
  maxRunJobInAnyMinute: number;
  /** First publish → every request settled. */
  wallMs: number;
  /** First publish → last publish done: the rest of `wallMs` is the time to settle. */
  publishMs: number;
}

/** One reconcile sweep the way `jobbridge dev` runs it in a loop, over every page. */
async function reconcileSweep(
  deps: ReconcileAllDeps,
  actions: Record<string, number>,
): Promise<void> {
  await reconcileAll(
    // Only the passes: the bridges' own reconcile calls drain the queue.
    deps,
    {
      // A short staleness window (the run lasts minutes); the lease grace stays at its default
      // (600 s), so a `dispatching` job is always left to its Pub/Sub redelivery.
      staleAfterMs: 3000,
      heartbeatStaleMs: 60_000,
      pageSize: 100,
      maxPages: Number.POSITIVE_INFINITY,
      onActions: (done) => {
        for (const a of done) {
          if (a.action !== 'waiting' && a.action !== 'checked')
            actions[a.action] = (actions[a.action] ?? 0) + 1;
        }
      },
    },
  );
}

/**
 * The chaos suite: publishes the planned load through the real Pub/Sub emulator's push to a
 * `jobbridge serve` child that is SIGKILLed and restarted on the same port, with RunJob faults at
 * 20 % and workers that die midway, until every request settled; then checks every promise.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const say = options.progress ?? (() => undefined);
  const seed = options.seed ?? 1;
  const random = prng(seed + 7);
  process.env.PUBSUB_EMULATOR_HOST = options.pubsubHost;
  process.env.FIRESTORE_EMULATOR_HOST = options.firestoreHost;
  const projectId = `chaos-${randomUUID().slice(0, 8)}`;
  const plan = planLoad(options.requests, {
    duplicateRate: 0.3,
    invalidRate: 0.1,
    workerKillRate: options.faults ? 0.05 : 0,
    seed,
  });
  const quota = options.quota ?? {
    runJobPerMinute: CLOUD_RUN_DEFAULT_QUOTAS.runJobPerMinute,
    maxRunningExecutions: CLOUD_RUN_DEFAULT_QUOTAS.maxRunningExecutions,
  };
  const firestore = new Firestore({ projectId, preferRest: false });
  const pubsub = new PubSub({ projectId });
  const { jobs, baseDir } = await loadJobFile(JOBS_FILE);
  const compileCache = join(tmpdir(), 'jobbridge-chaos-compile-cache');
  mkdirSync(compileCache, { recursive: true });
  let faultsInjected = 0;
  const emulator = await startRunEmulator({
    jobs,
    baseDir,
    killGraceMs: 2000,
    taskEnv: {
      GOOGLE_CLOUD_PROJECT: projectId,
      FIRESTORE_EMULATOR_HOST: options.firestoreHost,
      JOBBRIDGE_COLLECTION: 'jobs',
      LOG_LEVEL: 'warn',
      NODE_COMPILE_CACHE: compileCache,
    },
    // Counted where they happen: a fault met by a drain leaves no push-delivery line.
    log: (line) => {
      if (line.includes('injected fault')) faultsInjected++;
    },
    quotas: quota,
    ...(options.faults
      ? { faults: { runJobUnavailableRate: 0.1, runJobResourceExhaustedRate: 0.1 } }
      : {}),
  });
  const run = createRunClients({ emulatorHost: emulator.host, projectId });
  const launcher = new CloudRunLauncher(run, { project: projectId, region: REGION });
  const port = await freePort();
  const bridge = new RestartingBridge(
    {
      PATH: process.env.PATH,
      GOOGLE_CLOUD_PROJECT: projectId,
      JOBBRIDGE_REGION: REGION,
      JOBBRIDGE_JOBS: CHAOS_JOB,
      JOBBRIDGE_INSECURE_PUSH: 'true',
      JOBBRIDGE_LISTEN_HOST: '127.0.0.1',
      PORT: String(port),
      JOBBRIDGE_LEASE_MS: '2500',
      JOBBRIDGE_BUDGET_MS: '2000',
      // Paced to the emulator's quota, as an operator sets it to Cloud Run's; a restarted bridge
      // starts with a full bucket, so Cloud Run's own RESOURCE_EXHAUSTED is met too.
      JOBBRIDGE_RUNJOB_PER_MINUTE: String(quota.runJobPerMinute),
      FIRESTORE_EMULATOR_HOST: options.firestoreHost,
      CLOUD_RUN_EMULATOR_HOST: emulator.host,
      NODE_COMPILE_CACHE: compileCache,
    },
    port,
  );
  const subscription = `chaos-push-${projectId}`;
  const reconcilerActions: Record<string, number> = {};
  let reconciling = true;
  let reconcileLoop: Promise<void> | undefined;
  try {
    await bridge.start();
    const [topic] = await pubsub.createTopic(`chaos-${projectId}`);
    await topic.createSubscription(subscription, {
      pushConfig: { pushEndpoint: `${bridge.url}/pubsub/push` },
      ackDeadlineSeconds: 10,
      // No retryPolicy: the Pub/Sub emulator (google-cloud-cli 528) redelivers a failed push
      // within about a second without one, but with one (even 1–5 s) stops redelivering a
      // message after its second failure for minutes (measured; see docs/reliability.md).
    });
    const deps = { firestore, collection: 'jobs', launcher };
    reconcileLoop = (async () => {
      while (reconciling) {
        await reconcileSweep(deps, reconcilerActions).catch((err: unknown) =>
          say(`reconcile sweep failed: ${String(err)}`),
        );
        // What Cloud Scheduler calls on the bridge: a reconcile pass that drains the queue.
        await fetch(`${bridge.url}/reconcile`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ drainForMs: 1500 }),
          signal: AbortSignal.timeout(10_000),
        }).catch(() => undefined); // the bridge is being killed: the next call reaches it
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    if (options.faults) {
      const [minMs, maxMs] = options.restartEveryMs ?? [3000, 6000];
      bridge.startChaos(minMs, maxMs, random);
    }
    const started = performance.now();
    const docIds = new Map<string, 'valid' | 'invalid'>();
    const publishedAt = new Map<string, number>();
    const gapMs = 1000 / options.publishPerSecond;
    for (const [i, p] of plan.publishes.entries()) {
      const due = started + i * gapMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const at = Date.now();
      docIds.set(
        await publishPlanned(pubsub, topic, p),
        p.kind === 'invalid' ? 'invalid' : 'valid',
      );
      if (p.kind === 'valid') publishedAt.set(p.requestId, at);
      if (i % 100 === 99) say(`published ${i + 1}/${plan.publishes.length}`);
    }
    const publishMs = Math.round(performance.now() - started);
    const verdict = await verifyChaos({
      firestore,
      run,
      parent: `projects/${projectId}/locations/${REGION}/jobs/${CHAOS_JOB}`,
      docIds,
      valid: plan.valid,
      publishedAt,
      timeoutMs: options.settleTimeoutMs ?? 120_000,
      progress: say,
    });
    const wallMs = Math.round(performance.now() - started);
    await bridge.stopChaos();
    const [executions] = await run.executions.listExecutions({
      parent: `projects/${projectId}/locations/${REGION}/jobs/${CHAOS_JOB}`,
    });
    const maxRunJobInAnyMinute = maxInWindow(
      executions.map(
        (e) =>
          Number(e.createTime?.seconds ?? 0) * 1000 + Math.floor((e.createTime?.nanos ?? 0) / 1e6),
      ),
      60_000,
    );
    const problems =
      maxRunJobInAnyMinute > quota.runJobPerMinute
        ? [
            ...verdict.problems,
            `${maxRunJobInAnyMinute} executions started within 60 s, above the quota of ${quota.runJobPerMinute}`,
          ]
        : verdict.problems;
    return {
      ...verdict,
      problems,
      quotaPerMinute: quota.runJobPerMinute,
      maxRunJobInAnyMinute,
      faults: options.faults,
      requests: plan.publishes.length,
      duplicates: plan.publishes.filter((p) => p.kind === 'duplicate').length,
      invalid: plan.publishes.filter((p) => p.kind === 'invalid').length,
      distinctValid: plan.valid.size,
      bridgeRestarts: bridge.restarts,
      runJobFaultsInjected: faultsInjected,
      workersKilled: plan.killed.size,
      reconcilerActions,
      bridgeOutcomes: bridge.counts.outcomes,
      wallMs,
      publishMs,
    };
  } finally {
    reconciling = false;
    await reconcileLoop;
    await bridge.close();
    // The Pub/Sub emulator is shared: stop it pushing to a port nobody listens on any more.
    await pubsub
      .subscription(subscription)
      .delete()
      .catch(() => undefined);
    await pubsub.close();
    await run.close();
    await emulator.stop();
    await Promise.race([firestore.terminate(), new Promise((r) => setTimeout(r, 1000))]);
  }
}
