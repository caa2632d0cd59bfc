import type { Firestore } from '@google-cloud/firestore';
import { fallbackRequestId } from '../contract/index.ts';
import type { Launcher } from '../dispatch/index.ts';
import { DEAD_LETTER_OUTCOMES, type DeadLetterOutcome } from '../errors/index.ts';
import type { Logger } from '../log.ts';
import { RECONCILE_ERROR_CODES, settleDeadLetter, type DeadLetter } from '../reconciler/index.ts';
import { parsePushDelivery } from './push-envelope.ts';

export type { DeadLetterOutcome };

/** Where the bridge's server mounts `deadLetterRoute` (the dead-letter subscription pushes here). */
export const DEAD_LETTER_PATH = '/pubsub/dead-letter';

/** Attributes Pub/Sub adds to a message it forwards to the dead-letter topic. */
export const DEAD_LETTER_ATTRIBUTES = {
  deliveryCount: 'CloudPubSubDeadLetterSourceDeliveryCount',
  subscription: 'CloudPubSubDeadLetterSourceSubscription',
  subscriptionProject: 'CloudPubSubDeadLetterSourceSubscriptionProject',
  publishTime: 'CloudPubSubDeadLetterSourceTopicPublishTime',
} as const;

export interface DeadLetterDeps {
  firestore: Firestore;
  collection: string;
  /** Finds an execution a dead delivery may have started before it died (it is adopted then). */
  launcher: Launcher;
  /** The job documents' dedup window (the bridge's retention), for `expireAt` of a new document. */
  retentionMs: number;
  now?: () => Date;
  log?: Logger;
}

export interface DeadLetterResult {
  outcome: DeadLetterOutcome;
  /** For the push answer: 2xx acks the dead letter, anything else has Pub/Sub bring it back. */
  status: number;
  requestId?: string;
}

function result(outcome: DeadLetterOutcome, requestId?: string): DeadLetterResult {
  return {
    outcome,
    status: DEAD_LETTER_OUTCOMES[outcome].status,
    ...(requestId !== undefined ? { requestId } : {}),
  };
}

/** Every job passes the allowlist here: the request is failed either way, allowed or not. */
class AnyJob extends Set<string> {
  override has(): boolean {
    return true;
  }
}
const ANY_JOB: ReadonlySet<string> = new AnyJob();

function bodyText(body: unknown): Buffer | string | undefined {
  if (body === undefined || body === null) return undefined;
  if (Buffer.isBuffer(body) || typeof body === 'string') return body;
  // An envelope a framework already parsed: the bridge's parser wants the text.
  return JSON.stringify(body);
}

function readDeadLetter(body: unknown): DeadLetter | undefined {
  const text = bodyText(body);
  const parsed = parsePushDelivery(text, ANY_JOB);
  const requestId = parsed.ok ? parsed.delivery.requestId : parsed.requestId;
  const source = parsed.ok ? parsed.delivery.source : parsed.source;
  if (requestId === undefined || source === undefined) return undefined;
  const attributes = attributesOf(text);
  const count = attributes[DEAD_LETTER_ATTRIBUTES.deliveryCount] ?? 'maxDeliveryAttempts';
  const from = attributes[DEAD_LETTER_ATTRIBUTES.subscription] ?? 'its subscription';
  // The dead-letter topic gives the message a new id: an id derived from the original one is lost.
  const lostId =
    requestId === fallbackRequestId(source.messageId)
      ? "; the request had no requestId, so this document is keyed by the dead letter's own messageId"
      : '';
  return {
    requestId,
    request: parsed.ok ? parsed.delivery.request : undefined,
    job: parsed.ok ? parsed.delivery.request.job : parsed.job,
    source,
    error: {
      code: RECONCILE_ERROR_CODES.deadLettered,
      message: `Pub/Sub gave up after ${count} delivery attempts on ${from} and dead-lettered the message${lostId}`,
    },
  };
}

function attributesOf(text: Buffer | string | undefined): Record<string, string> {
  try {
    const envelope = JSON.parse(String(text)) as {
      message?: { attributes?: Record<string, string> };
    };
    return envelope.message?.attributes ?? {};
  } catch {
    return {};
  }
}

/**
 * Handles one push delivery from the dead-letter topic's subscription: the request ends `failed`
 * with code `dead-lettered` whether or not a job document exists, so no request vanishes. A job
 * already dispatched or ended is left alone; a `dispatching` one with a live lease is retried
 * later (409); one whose dead delivery had started an execution adopts it. Never throws.
 */
export async function handleDeadLetter(
  deps: DeadLetterDeps,
  body: unknown,
): Promise<DeadLetterResult> {
  const dl = readDeadLetter(body);
  if (dl === undefined) {
    deps.log?.error(
      { outcome: 'unidentified' },
      'dead letter names no request: acked, not recorded',
    );
    return result('unidentified');
  }
  const now = deps.now?.() ?? new Date();
  try {
    const outcome = await settleDeadLetter(deps, dl, now);
    deps.log?.warn({ requestId: dl.requestId, outcome, error: dl.error }, 'dead letter');
    return result(outcome, dl.requestId);
  } catch (err: unknown) {
    deps.log?.error({ err, requestId: dl.requestId }, 'dead letter: could not record; retried');
    return result('store-unavailable', dl.requestId);
  }
}

/**
 * A fastify route handler for `POST /pubsub/dead-letter`, to mount behind the same OIDC check as
 * the push endpoint. Works with a raw-buffer body parser (the bridge's) or a parsed JSON body.
 */
export function deadLetterRoute(deps: DeadLetterDeps) {
  return async (
    request: { body: unknown },
    reply: { code(status: number): { send(payload: unknown): unknown } },
  ): Promise<unknown> => {
    const done = await handleDeadLetter(deps, request.body);
    return reply
      .code(done.status)
      .send({ outcome: done.outcome, ...(done.requestId ? { requestId: done.requestId } : {}) });
  };
}
