import type { Firestore } from '@google-cloud/firestore';
import { fallbackRequestId, type JobPolicies } from '../contract/index.ts';
import type { Launcher, ValidDelivery } from '../dispatch/index.ts';
import {
  DEAD_LETTER_OUTCOMES,
  isAck,
  type DeadLetterOutcome,
  type Outcome,
} from '../errors/index.ts';
import type { Logger } from '../log.ts';
import { RECONCILE_ERROR_CODES, settleDeadLetter, type DeadLetter } from '../reconciler/index.ts';
import { parsePushDelivery, type ParsedDelivery } from './push-envelope.ts';

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

/** A delivery that failed validation, with what it says of its request. */
export type InvalidDelivery = Extract<ParsedDelivery, { ok: false }>;

/**
 * The push route's own handling, for dead letters: with several subscriptions on one topic (one
 * per bridge service), a message one subscription gave up on may be admitted by another's
 * delivery later, and even with one, every delivery may have failed only because the bridge was
 * down. Either way the dead letter is the request's last delivery, and it is handled as any
 * delivery is: a valid request admitted (started, or queued for the dispatcher), an invalid one
 * recorded `rejected`.
 */
export interface DeadLetterAdmission {
  jobs: ReadonlySet<string>;
  policies: JobPolicies;
  admit(delivery: ValidDelivery): Promise<Outcome>;
  reject(delivery: InvalidDelivery): Promise<Outcome>;
}

export interface DeadLetterDeps {
  firestore: Firestore;
  collection: string;
  /** Finds an execution a dead delivery may have started before it died (it is adopted then). */
  launcher: Launcher;
  /** The job documents' dedup window (the bridge's retention), for `expireAt` of a new document. */
  retentionMs: number;
  /**
   * Admits a dead letter of a valid request that carries its own request id. Without it (a route
   * mounted outside the bridge), such a request is recorded `failed` (`dead-lettered`) as any
   * other dead letter is.
   */
  admission?: DeadLetterAdmission;
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

/**
 * The dead letter as the push route parses it, when the push route's handling applies: a valid
 * request with its own id (keyed by the dead letter's own message id, it could not be told from
 * the original request, which may have run), or an invalid one (nothing runs: it is recorded
 * `rejected` under whatever id it resolves to).
 */
function deliveryOf(
  admission: DeadLetterAdmission | undefined,
  body: unknown,
  dl: DeadLetter,
): ParsedDelivery | undefined {
  if (admission === undefined) return undefined;
  const parsed = parsePushDelivery(bodyText(body), admission.jobs, admission.policies);
  if (!parsed.ok) return parsed.requestId !== undefined ? parsed : undefined;
  if (parsed.delivery.requestId === fallbackRequestId(dl.source.messageId)) return undefined;
  return parsed;
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

/** A dead letter's admission, answered as the dead-letter route answers. */
function admittedResult(admitted: Outcome, requestId: string): DeadLetterResult {
  if (!isAck(admitted)) {
    // Another delivery holds the request, or Cloud Run, Firestore or the budget failed: the
    // dead-letter subscription brings it back (it has no dead-letter policy of its own).
    return result(admitted.status === 409 ? 'in-progress' : 'admission-retryable', requestId);
  }
  switch (admitted.code) {
    case 'dispatched':
    case 'adopted':
    case 'queued':
      return result('admitted', requestId);
    case 'cancelled':
      return result('cancelled', requestId);
    case 'launch-failed':
      return result('failed', requestId);
    default:
      return result('already-handled', requestId);
  }
}

/**
 * Handles one push delivery from the dead-letter topic's subscription, so that no request
 * vanishes. With `deps.admission` it is handled as a push delivery would be: a valid request with
 * its own request id is admitted (started, queued, or a duplicate of what is already admitted),
 * an invalid one recorded `rejected`. Any other (a valid request keyed by a message id the
 * dead-letter topic replaced, or any request without `deps.admission`) ends `failed` with code
 * `dead-lettered` whether or not a job document exists: a job already dispatched or ended is left
 * alone; a `dispatching` one with a live lease is retried later (409); one whose dead delivery
 * had started an execution adopts it. Never throws.
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
    const asDelivery = deliveryOf(deps.admission, body, dl);
    if (deps.admission !== undefined && asDelivery !== undefined) {
      const handled = asDelivery.ok
        ? await deps.admission.admit(asDelivery.delivery)
        : await deps.admission.reject(asDelivery);
      const done = asDelivery.ok
        ? admittedResult(handled, dl.requestId)
        : result(isAck(handled) ? 'rejected' : 'store-unavailable', dl.requestId);
      deps.log?.warn(
        { requestId: dl.requestId, outcome: done.outcome, admission: handled.reason },
        'dead letter',
      );
      return done;
    }
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
