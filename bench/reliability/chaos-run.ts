import { freePort } from '../../src/devstack/google-emulators.ts';
import { CLOUD_RUN_DEFAULT_QUOTAS } from '../../src/emulator/index.ts';
import { CloudRunLauncher } from '../../src/launcher/index.ts';
import { reconcileAll, type ReconcileAllDeps } from '../../src/reconciler/index.ts';
import { maxInWindow } from './burst-run.ts';
import { RestartingBridge } from './chaos-bridge.ts';
import { planLoad, prng, publishPlanned } from './chaos-plan.ts';
import { CHAOS_REGION, callReconcile, startChaosStack } from './chaos-stack.ts';
import { verifyChaos, type ChaosVerdict } from './chaos-verify.ts';
import { createTimesMs } from './create-times.ts';

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
  /** The CLI entry point the bridge and every task run: src/cli.ts unless given (the bundle). */
  cli?: string;
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
  let faultsInjected = 0;
  const stack = await startChaosStack({
    prefix: 'chaos',
    pubsubHost: options.pubsubHost,
    firestoreHost: options.firestoreHost,
    quotas: quota,
    ...(options.cli !== undefined ? { cli: options.cli } : {}),
    ...(options.faults
      ? { faults: { runJobUnavailableRate: 0.1, runJobResourceExhaustedRate: 0.1 } }
      : {}),
    // Counted where they happen: a fault met by a drain leaves no push-delivery line.
    log: (line) => {
      if (line.includes('injected fault')) faultsInjected++;
    },
  });
  const { projectId, firestore, pubsub, run } = stack;
  const launcher = new CloudRunLauncher(run, { project: projectId, region: CHAOS_REGION });
  const port = await freePort();
  // A restarted bridge starts with a full bucket, so Cloud Run's own RESOURCE_EXHAUSTED is met too.
  const bridge = new RestartingBridge(
    stack.bridgeEnv(port, { JOBBRIDGE_LEASE_MS: '2500', JOBBRIDGE_BUDGET_MS: '2000' }),
    port,
    options.cli !== undefined ? { entry: options.cli } : {},
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
        await callReconcile(bridge.url);
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
    // The stack's Firestore, Cloud Run clients and parent: where the run's end is read.
    const verdict = await verifyChaos({
      ...stack,
      ...{ docIds, valid: plan.valid, publishedAt, progress: say },
      timeoutMs: options.settleTimeoutMs ?? 120_000,
    });
    const wallMs = Math.round(performance.now() - started);
    await bridge.stopChaos();
    const maxRunJobInAnyMinute = maxInWindow(createTimesMs(await stack.executions()), 60_000);
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
    await stack.close([subscription]);
  }
}
