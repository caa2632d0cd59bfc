import type { PubSub, Topic } from '@google-cloud/pubsub';
import { fallbackRequestId, jobDocumentId } from '../../src/contract/index.ts';
import { publishJob } from '../../src/producer/index.ts';

/** The job of examples/jobs.json that the chaos load runs: `jobbridge work simulate`. */
export const CHAOS_JOB = 'simulate';

/** One publish of the load: a fresh valid request, a duplicate of one, or an invalid one. */
export type PlannedPublish =
  | { kind: 'valid'; requestId: string; killWorker: boolean }
  | { kind: 'duplicate'; requestId: string; killWorker: boolean }
  | { kind: 'invalid'; requestId: string | undefined; variant: InvalidVariant };

/** The ways an invalid request is sent; each ends `rejected:<field>` at the bridge. */
export const INVALID_VARIANTS = [
  'job-not-allowed',
  'task-count-zero',
  'env-node-options',
  'data-not-json',
  'data-not-json-no-id',
] as const;
export type InvalidVariant = (typeof INVALID_VARIANTS)[number];

export interface LoadPlan {
  publishes: PlannedPublish[];
  /** Request ids of the distinct valid requests. */
  valid: Set<string>;
  /** Valid request ids whose worker SIGKILLs itself midway on its first attempt. */
  killed: Set<string>;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same load. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `requests` publishes: `duplicateRate` of them repeat an earlier valid request id, `invalidRate`
 * are invalid, the rest are distinct valid requests; `workerKillRate` of the valid ones have a
 * worker that SIGKILLs itself midway (Cloud Run retries the task).
 */
export function planLoad(
  requests: number,
  options: { duplicateRate: number; invalidRate: number; workerKillRate: number; seed: number },
): LoadPlan {
  const random = prng(options.seed);
  const duplicates = Math.round(requests * options.duplicateRate);
  const invalid = Math.round(requests * options.invalidRate);
  const kinds: PlannedPublish['kind'][] = [
    ...Array<'duplicate'>(duplicates).fill('duplicate'),
    ...Array<'invalid'>(invalid).fill('invalid'),
    ...Array<'valid'>(requests - duplicates - invalid).fill('valid'),
  ];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  // A duplicate needs an original before it: the first publish is always a fresh one.
  const firstValid = kinds.indexOf('valid');
  if (firstValid > 0) [kinds[0], kinds[firstValid]] = [kinds[firstValid]!, kinds[0]!];
  const plan: LoadPlan = { publishes: [], valid: new Set(), killed: new Set() };
  const originals: string[] = [];
  kinds.forEach((kind, i) => {
    if (kind === 'valid') {
      const requestId = `chaos-${options.seed}-${i}`;
      const killWorker = random() < options.workerKillRate;
      originals.push(requestId);
      plan.valid.add(requestId);
      if (killWorker) plan.killed.add(requestId);
      plan.publishes.push({ kind, requestId, killWorker });
    } else if (kind === 'duplicate') {
      const requestId = originals[Math.floor(random() * originals.length)]!;
      plan.publishes.push({ kind, requestId, killWorker: plan.killed.has(requestId) });
    } else {
      const variant = INVALID_VARIANTS[i % INVALID_VARIANTS.length]!;
      const requestId = variant === 'data-not-json-no-id' ? undefined : `chaos-bad-${i}`;
      plan.publishes.push({ kind, requestId, variant });
    }
  });
  return plan;
}

/** simulate's args: two short steps; a killed worker dies at step 1 of its first attempt. */
export function simulateArgs(killWorker: boolean): string[] {
  const base = ['--steps', '2', '--step-ms', '20'];
  return killWorker ? [...base, '--fail-at', '1', '--fail-attempts', '1', '--kill'] : base;
}

/** An invalid request as a raw Pub/Sub message (publishJob would refuse most of them). */
function invalidMessage(
  variant: InvalidVariant,
  requestId: string | undefined,
): { data: Buffer; attributes: Record<string, string> } {
  const attributes: Record<string, string> = requestId !== undefined ? { requestId } : {};
  const request = { schemaVersion: 1, requestId, job: CHAOS_JOB, function: 'simulate' };
  const json = (value: unknown) => ({ data: Buffer.from(JSON.stringify(value)), attributes });
  switch (variant) {
    case 'job-not-allowed':
      return json({ ...request, job: 'not-on-the-allowlist' });
    case 'task-count-zero':
      return json({ ...request, taskCount: 0 });
    case 'env-node-options':
      return json({ ...request, env: { NODE_OPTIONS: '--require /tmp/evil.js' } });
    case 'data-not-json':
    case 'data-not-json-no-id':
      return { data: Buffer.from('this is {not JSON'), attributes };
  }
}

/**
 * Publishes one planned request with the real Pub/Sub client: valid ones and their duplicates
 * through `publishJob`, invalid ones as raw messages. Returns the Firestore document id the
 * bridge records it under (for an invalid message without a request id, `msg~<messageId>`).
 */
export async function publishPlanned(
  pubsub: PubSub,
  topic: Topic,
  p: PlannedPublish,
): Promise<string> {
  if (p.kind !== 'invalid') {
    await publishJob(pubsub, topic, {
      requestId: p.requestId,
      job: CHAOS_JOB,
      function: 'simulate',
      args: simulateArgs(p.killWorker),
    });
    return jobDocumentId(p.requestId);
  }
  const messageId = await topic.publishMessage(invalidMessage(p.variant, p.requestId));
  return jobDocumentId(p.requestId ?? fallbackRequestId(messageId));
}
