import type { Message, Subscription } from '@google-cloud/pubsub';
import { RECONCILE_ERROR_CODES } from '../../src/reconciler/index.ts';
import type { DeliveryRecord, DownWindow } from './chaos-bridge.ts';

/** A message Pub/Sub forwarded to the dead-letter topic, as its pull subscription received it. */
export interface DeadLetterRecord {
  atMs: number;
  requestId: string | undefined;
  /** The subscription that gave up on it (`CloudPubSubDeadLetterSourceSubscription`). */
  subscription: string;
  attempts: number;
}

/** Keeps every message the dead-letter topic's pull subscription receives, from now on. */
export class DeadLetterWatch {
  readonly records: DeadLetterRecord[] = [];
  private last = Date.now();
  private readonly subscription: Subscription;
  constructor(subscription: Subscription) {
    this.subscription = subscription;
    subscription.on('message', (m: Message) => {
      this.last = Date.now();
      let requestId = m.attributes.requestId;
      if (requestId === undefined) {
        try {
          requestId = (JSON.parse(m.data.toString('utf8')) as { requestId?: string }).requestId;
        } catch {
          // not JSON: an invalid message, named by nothing
        }
      }
      this.records.push({
        atMs: Date.now(),
        requestId,
        subscription: m.attributes.CloudPubSubDeadLetterSourceSubscription ?? '?',
        attempts: Number(m.attributes.CloudPubSubDeadLetterSourceDeliveryCount ?? 0),
      });
      m.ack();
    });
  }

  /** Waits until nothing came for `quietMs`, then stops listening. */
  async close(quietMs: number): Promise<void> {
    this.last = Math.max(this.last, Date.now());
    while (Date.now() - this.last < quietMs) await new Promise((r) => setTimeout(r, 200));
    await this.subscription.close();
  }
}

/** One bridge of the run, with what it saw: its subscription, its answers, its down time. */
export interface BridgeTrace {
  subscription: string;
  deliveries: readonly DeliveryRecord[];
  downWindows: readonly DownWindow[];
}

/**
 * What became of the valid requests and of the messages Pub/Sub dead-lettered, counted apart:
 * a message dead-lettered on one subscription while the other bridge admitted its request is a
 * dead letter, not a lost or dead-lettered request.
 */
export interface BurstAccount {
  /** Valid requests with no job document at the end (never admitted), or not yet ended. */
  requestsLost: number;
  /** Valid requests that ended `failed`, and of them those failed by a dead letter. */
  requestsFailed: number;
  requestsDeadLettered: number;
  /** Messages that reached the dead-letter topic, in all and per source subscription. */
  deadLettered: number;
  deadLetterMessagesBySubscription: Record<string, number>;
  /** Of them, messages of a valid request that still succeeded (another copy admitted it). */
  deadLetterMessagesOfSucceeded: number;
  /** Each bridge's time down in all, in ms (SIGKILL → listening again). */
  downMsPerBridge: number[];
  /** SIGKILL → listening again, median and longest over every restart, in ms. */
  restartMs: { median: number; max: number };
  /** The longest time both (all) bridges were down together, in ms. */
  longestAllDownMs: number;
  /** What happened to each valid request that did not succeed, one line each. */
  stories: string[];
}

function downWhile(windows: readonly DownWindow[], from: number, to: number): number {
  let ms = 0;
  for (const w of windows) {
    const end = Math.min(to, w.upMs ?? to);
    const start = Math.max(from, w.downMs);
    if (end > start) ms += end - start;
  }
  return ms;
}

function restartTimes(traces: readonly BridgeTrace[]): { median: number; max: number } {
  const times = traces
    .flatMap((t) => t.downWindows)
    .flatMap((w) => (w.upMs === undefined ? [] : [w.upMs - w.downMs]))
    .sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)] ?? 0, max: times.at(-1) ?? 0 };
}

/** The longest stretch during which every bridge was down at once. */
function longestAllDown(traces: readonly BridgeTrace[], endMs: number): number {
  const [first, ...rest] = traces;
  if (first === undefined) return 0;
  let spans = first.downWindows.map((w) => [w.downMs, w.upMs ?? endMs] as const);
  for (const t of rest) {
    const next: (readonly [number, number])[] = [];
    for (const [a, b] of spans)
      for (const w of t.downWindows) {
        const start = Math.max(a, w.downMs);
        const end = Math.min(b, w.upMs ?? endMs);
        if (end > start) next.push([start, end]);
      }
    spans = next;
  }
  return spans.reduce((m, [a, b]) => Math.max(m, b - a), 0);
}

/**
 * Accounts for a two-bridge burst: per valid request, its end state and every copy's fate; a
 * request that did not succeed gets its story (each bridge's answers to it, each dead letter,
 * how long each bridge was down from the publish to the dead letter).
 */
export function accountBurst(input: {
  valid: ReadonlySet<string>;
  docs: ReadonlyMap<string, Record<string, unknown>>;
  traces: readonly BridgeTrace[];
  deadLetters: readonly DeadLetterRecord[];
  publishedAtMs: number;
  endMs: number;
}): BurstAccount {
  const { valid, docs, traces, deadLetters, publishedAtMs, endMs } = input;
  const rel = (ms: number) => `+${((ms - publishedAtMs) / 1000).toFixed(1)}s`;
  const bySubscription: Record<string, number> = {};
  for (const d of deadLetters) {
    const short = d.subscription.split('/').at(-1) ?? d.subscription;
    bySubscription[short] = (bySubscription[short] ?? 0) + 1;
  }
  let requestsLost = 0;
  let requestsFailed = 0;
  let requestsDeadLettered = 0;
  let deadLetterMessagesOfSucceeded = 0;
  const stories: string[] = [];
  for (const id of valid) {
    const doc = docs.get(id);
    const state = typeof doc?.state === 'string' ? doc.state : 'missing';
    const letters = deadLetters.filter((d) => d.requestId === id);
    if (state === 'succeeded') {
      deadLetterMessagesOfSucceeded += letters.length;
      continue;
    }
    const code = (doc?.error as { code?: string } | undefined)?.code;
    if (state === 'failed') {
      requestsFailed++;
      if (code === RECONCILE_ERROR_CODES.deadLettered) requestsDeadLettered++;
    } else if (state !== 'cancelled') requestsLost++;
    const parts = traces.map((t, i) => {
      const answers = t.deliveries
        .filter((d) => d.requestId === id)
        .map((d) => `${rel(d.atMs)} ${d.status} ${d.outcome}`);
      const mine = letters.filter((d) => d.subscription.endsWith(t.subscription));
      const dead = mine.map((d) => `dead-lettered ${rel(d.atMs)} after ${d.attempts} attempts`);
      const until = mine[0]?.atMs ?? endMs;
      const down = Math.round(downWhile(t.downWindows, publishedAtMs, until) / 100) / 10;
      return `bridge ${i}: answers [${answers.join(', ') || 'none'}]; ${dead.join(', ') || 'not dead-lettered'}; down ${down} s from the publish to then`;
    });
    stories.push(`${id} ended ${state}${code ? ` (${code})` : ''}: ${parts.join('; ')}`);
  }
  return {
    requestsLost,
    requestsFailed,
    requestsDeadLettered,
    deadLettered: deadLetters.length,
    deadLetterMessagesBySubscription: bySubscription,
    deadLetterMessagesOfSucceeded,
    downMsPerBridge: traces.map((t) => Math.round(downWhile(t.downWindows, 0, endMs))),
    restartMs: restartTimes(traces),
    longestAllDownMs: Math.round(longestAllDown(traces, endMs)),
    stories,
  };
}
