import type { Subscription } from '@google-cloud/pubsub';
import { freePort } from '../../src/devstack/google-emulators.ts';
import { accountBurst, DeadLetterWatch, type BurstAccount } from './burst-account.ts';
import { DownLimit, RestartingBridge } from './chaos-bridge.ts';
import { planLoad, prng, publishPlanned } from './chaos-plan.ts';
import { callReconcile, startChaosStack } from './chaos-stack.ts';
import { verifyChaos, type ChaosVerdict } from './chaos-verify.ts';
import { createTimesMs } from './create-times.ts';

export interface BurstOptions {
  requests: number;
  /** Bridge instances, each behind its own push subscription on the one topic. */
  bridges: number;
  duplicateRate: number;
  invalidRate: number;
  /** The Cloud Run Jobs emulator's run quota, and each bridge's pace. */
  runJobPerMinute: number;
  /** Each bridge's JOBBRIDGE_BATCH_MAX_REQUESTS; 1 (one execution per request) when unset. */
  batchMaxRequests?: number;
  /** SIGKILL and restart each bridge every this many ms (random in the range); none if unset. */
  killEveryMs?: [number, number];
  /**
   * How many bridges may be down at once (a kill waits for another's restart): unset, each is
   * killed on its own schedule, so all may be down together.
   */
  maxDownAtOnce?: number;
  /** The CLI entry point every bridge and task runs: src/cli.ts unless given (the image's bundle). */
  cli?: string;
  /** Give the push subscriptions Pub/Sub's retry policy (min–max backoff, seconds). */
  retryPolicy?: { minimumBackoffSeconds: number; maximumBackoffSeconds: number };
  /** Deliveries before Pub/Sub dead-letters a message. */
  maxDeliveryAttempts: number;
  pubsubHost: string;
  firestoreHost: string;
  seed?: number;
  settleTimeoutMs: number;
  progress?: (line: string) => void;
}

export interface BurstReport extends ChaosVerdict, Omit<BurstAccount, 'stories'> {
  requests: number;
  bridges: number;
  duplicates: number;
  invalid: number;
  distinctValid: number;
  runJobPerMinute: number;
  /** What happened to each valid request that did not succeed (its copies, its bridges' down time). */
  stories: string[];
  /** Dead-letter deliveries the bridges answered (`POST /pubsub/dead-letter`), by outcome. */
  deadLetterOutcomes: Record<string, number>;
  /** The most executions started in any 60 s: never above the quota. */
  maxRunJobInAnyMinute: number;
  bridgeRestarts: number;
  /** Push deliveries per outcome, over all bridges and all their lives. */
  bridgeOutcomes: Record<string, number>;
  /** First publish → the last valid request finished. */
  wallMs: number;
  /** distinctValid ÷ the quota: no dispatcher can beat it. */
  floorMs: number;
}

/** The most timestamps inside any window of `windowMs`. */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] as number) - (sorted[start] as number) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

/** Acks and counts what a pull subscription holds, until nothing came for `quietMs`. */
export async function countMessages(subscription: Subscription, quietMs: number): Promise<number> {
  let count = 0;
  let last = Date.now();
  subscription.on('message', (m: { ack(): void }) => {
    count++;
    last = Date.now();
    m.ack();
  });
  while (Date.now() - last < quietMs) await new Promise((r) => setTimeout(r, 200));
  await subscription.close();
  return count;
}

/**
 * A burst published all at once through the real Pub/Sub emulator to `bridges` `jobbridge serve`
 * children, each with its own push subscription on the topic (so every message reaches each of
 * them), against the Cloud Run Jobs emulator with its run quota on; optionally every bridge is
 * SIGKILLed and restarted at random. A reconcile call (what Cloud Scheduler makes) goes to each
 * bridge in turn every 2 s; the dead-letter topic pushes to every bridge's `/pubsub/dead-letter`,
 * as in production (and a pull subscription keeps a copy to count). Then every promise is checked:
 * one execution per valid request, invalid ones `rejected`, nothing stuck, the quota never passed;
 * requests lost or dead-lettered are counted apart from messages that reached the dead-letter topic.
 */
export async function runBurst(options: BurstOptions): Promise<BurstReport> {
  const say = options.progress ?? (() => undefined);
  const seed = options.seed ?? 1;
  const random = prng(seed + 11);
  const plan = planLoad(options.requests, {
    duplicateRate: options.duplicateRate,
    invalidRate: options.invalidRate,
    workerKillRate: 0,
    seed,
  });
  const stack = await startChaosStack({
    prefix: 'burst',
    pubsubHost: options.pubsubHost,
    firestoreHost: options.firestoreHost,
    quotas: { runJobPerMinute: options.runJobPerMinute, maxRunningExecutions: 1000 },
    ...(options.cli !== undefined ? { cli: options.cli } : {}),
  });
  const { projectId, firestore, pubsub } = stack;
  const bridges: RestartingBridge[] = [];
  const downLimit =
    options.maxDownAtOnce !== undefined ? new DownLimit(options.maxDownAtOnce) : undefined;
  for (let i = 0; i < options.bridges; i++) {
    const port = await freePort();
    bridges.push(
      new RestartingBridge(
        stack.bridgeEnv(port, {
          JOBBRIDGE_LEASE_MS: '4000',
          JOBBRIDGE_BUDGET_MS: '3000',
          JOBBRIDGE_BATCH_MAX_REQUESTS: String(options.batchMaxRequests ?? 1),
          LOG_LEVEL: 'info',
        }),
        port,
        {
          ...(options.cli !== undefined ? { entry: options.cli } : {}),
          ...(downLimit ? { downLimit } : {}),
        },
      ),
    );
  }
  const topicName = `burst-${projectId}`;
  const subscriptions = bridges.map((_, i) => `burst-push-${i}-${projectId}`);
  const deadLetterPull = `burst-dead-${projectId}`;
  const deadLetterPushes = bridges.map((_, i) => `burst-dead-push-${i}-${projectId}`);
  let draining = true;
  let drainLoop: Promise<void> | undefined;
  try {
    await Promise.all(bridges.map((b) => b.start()));
    const [topic] = await pubsub.createTopic(topicName);
    const [deadLetter] = await pubsub.createTopic(`${topicName}-dead-letter`);
    const [deadPull] = await deadLetter.createSubscription(deadLetterPull);
    const deadLetters = new DeadLetterWatch(deadPull);
    // Production's route: each bridge admits a dead letter as it admits a push.
    for (const [i, bridge] of bridges.entries())
      await deadLetter.createSubscription(deadLetterPushes[i] as string, {
        pushConfig: { pushEndpoint: `${bridge.url}/pubsub/dead-letter` },
        ackDeadlineSeconds: 10,
      });
    for (const [i, bridge] of bridges.entries()) {
      await topic.createSubscription(subscriptions[i] as string, {
        pushConfig: { pushEndpoint: `${bridge.url}/pubsub/push` },
        ackDeadlineSeconds: 10,
        deadLetterPolicy: {
          deadLetterTopic: deadLetter.name,
          maxDeliveryAttempts: options.maxDeliveryAttempts,
        },
        ...(options.retryPolicy
          ? {
              retryPolicy: {
                minimumBackoff: { seconds: options.retryPolicy.minimumBackoffSeconds },
                maximumBackoff: { seconds: options.retryPolicy.maximumBackoffSeconds },
              },
            }
          : {}),
      });
    }
    // Cloud Scheduler's call, to whichever instance answers: each bridge in turn.
    drainLoop = (async () => {
      for (let i = 0; draining; i++) {
        const bridge = bridges[i % bridges.length] as RestartingBridge;
        await callReconcile(bridge.url);
        await new Promise((r) => setTimeout(r, 2000 / bridges.length));
      }
    })();
    if (options.killEveryMs) {
      const [minMs, maxMs] = options.killEveryMs;
      // Each bridge's first kill comes while the burst is still arriving (staggered, so one
      // bridge is up), then at random: a burst that settles in seconds still meets them.
      bridges.forEach((bridge, i) => bridge.startChaos(minMs, maxMs, random, 1000 + i * 1500));
    }
    const started = performance.now();
    const publishedAtMs = Date.now();
    const docIds = new Map<string, 'valid' | 'invalid'>();
    const publishedAt = new Map<string, number>();
    // All at once: every publish in flight together, as a fan-out at midnight would send them.
    const ids = await Promise.all(plan.publishes.map((p) => publishPlanned(pubsub, topic, p)));
    plan.publishes.forEach((p, i) => {
      docIds.set(ids[i] as string, p.kind === 'invalid' ? 'invalid' : 'valid');
      if (p.kind === 'valid') publishedAt.set(p.requestId, Date.now());
    });
    say(`published ${plan.publishes.length} in ${Math.round(performance.now() - started)} ms`);
    // The stack's Firestore, Cloud Run clients and parent: where the run's end is read.
    const verdict = await verifyChaos({
      ...stack,
      ...{ docIds, valid: plan.valid, publishedAt, progress: say },
      timeoutMs: options.settleTimeoutMs,
    });
    const wallMs = Math.round(performance.now() - started);
    for (const bridge of bridges) await bridge.stopChaos();
    const createTimes = createTimesMs(await stack.executions());
    await deadLetters.close(3000);
    const account = accountBurst({
      valid: plan.valid,
      docs: new Map((await firestore.collection('jobs').get()).docs.map((d) => [d.id, d.data()])),
      traces: bridges.map((b, i) => ({
        subscription: subscriptions[i] as string,
        deliveries: b.deliveries,
        downWindows: b.downWindows,
      })),
      deadLetters: deadLetters.records,
      publishedAtMs,
      endMs: Date.now(),
    });
    const outcomes: Record<string, number> = {};
    const deadLetterOutcomes: Record<string, number> = {};
    for (const bridge of bridges) {
      for (const [k, n] of Object.entries(bridge.counts.outcomes))
        outcomes[k] = (outcomes[k] ?? 0) + n;
      for (const [k, n] of Object.entries(bridge.counts.deadLetterOutcomes))
        deadLetterOutcomes[k] = (deadLetterOutcomes[k] ?? 0) + n;
    }
    return {
      ...verdict,
      requests: plan.publishes.length,
      bridges: options.bridges,
      duplicates: plan.publishes.filter((p) => p.kind === 'duplicate').length,
      invalid: plan.publishes.filter((p) => p.kind === 'invalid').length,
      distinctValid: plan.valid.size,
      runJobPerMinute: options.runJobPerMinute,
      ...account,
      deadLetterOutcomes,
      maxRunJobInAnyMinute: maxInWindow(createTimes, 60_000),
      bridgeRestarts: bridges.reduce((n, b) => n + b.restarts, 0),
      bridgeOutcomes: outcomes,
      wallMs,
      floorMs: Math.round((plan.valid.size / options.runJobPerMinute) * 60_000),
    };
  } finally {
    draining = false;
    await drainLoop;
    for (const bridge of bridges) await bridge.close();
    await stack.close([...subscriptions, ...deadLetterPushes, deadLetterPull]);
  }
}
