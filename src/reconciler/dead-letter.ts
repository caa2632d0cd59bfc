import type { Firestore } from '@google-cloud/firestore';
import {
  isTerminalJobState,
  canTransitionJob,
  fallbackRequestId,
  jobDocumentId,
  type ErrorInfo,
  type JobDocument,
  type JobRequest,
  type RequestSource,
} from '../contract/index.ts';
import { parsePushDelivery } from '../bridge/push-envelope.ts';
import type { Launcher } from '../launcher/index.ts';
import type { Logger } from '../log.ts';
import { requestFields } from '../store/job-claim-document.ts';
import { DEFAULT_RECONCILE_OPTIONS } from './config.ts';
import { RECONCILE_ERROR_CODES } from './execution-outcome.ts';
import { jobView } from './job-view.ts';
import { endWithoutDispatch, settleDispatching, type JobContext } from './reconcile-job.ts';

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

export type DeadLetterOutcome =
  | 'recorded' // a new `failed` document: no delivery ever claimed the request
  | 'failed' // the `dispatching` or `queued` job was ended `failed`
  | 'adopted' // a dead delivery had started an execution: the job is `dispatched` after all
  | 'cancelled' // it had been cancelled before any dispatch
  | 'already-handled' // dispatched, running or ended: nothing is lost
  | 'in-progress' // a delivery holds a live lease right now: retry later
  | 'unidentified' // the body names no request at all: logged and acked (it cannot be tied to one)
  | 'store-unavailable';

export interface DeadLetterResult {
  outcome: DeadLetterOutcome;
  /** For the push answer: 2xx acks the dead letter, anything else has Pub/Sub bring it back. */
  status: number;
  requestId?: string;
}

const STATUS: Record<DeadLetterOutcome, number> = {
  recorded: 201,
  failed: 200,
  adopted: 200,
  cancelled: 200,
  'already-handled': 200,
  'in-progress': 409,
  unidentified: 200,
  'store-unavailable': 503,
};

function result(outcome: DeadLetterOutcome, requestId?: string): DeadLetterResult {
  return { outcome, status: STATUS[outcome], ...(requestId !== undefined ? { requestId } : {}) };
}

/** What a dead-letter delivery says about the request and why it was given up on. */
interface DeadLetter {
  requestId: string;
  request: JobRequest | undefined;
  job: string | undefined;
  source: RequestSource;
  error: ErrorInfo;
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

/** The `failed` document of a request no delivery ever claimed: so it does not vanish. */
function deadLetteredDocument(dl: DeadLetter, now: Date, retentionMs: number): JobDocument {
  const fields = dl.request
    ? requestFields(dl.request)
    : {
        job: (dl.job ?? '').slice(0, 63),
        function: null,
        args: [],
        envNames: [],
        taskCount: null,
        timeoutSeconds: null,
        labels: {},
      };
  return {
    requestId: dl.requestId,
    state: 'failed',
    ...fields,
    source: dl.source,
    dispatch: { leaseOwner: null, leaseExpiresAt: null, attempts: 0 },
    error: dl.error,
    createdAt: now,
    updatedAt: now,
    finishedAt: now,
    expireAt: new Date(now.getTime() + retentionMs),
  };
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
    const outcome = await settle(deps, dl, now);
    deps.log?.warn({ requestId: dl.requestId, outcome, error: dl.error }, 'dead letter');
    return result(outcome, dl.requestId);
  } catch (err: unknown) {
    deps.log?.error({ err, requestId: dl.requestId }, 'dead letter: could not record; retried');
    return result('store-unavailable', dl.requestId);
  }
}

async function settle(deps: DeadLetterDeps, dl: DeadLetter, now: Date): Promise<DeadLetterOutcome> {
  const ref = deps.firestore.collection(deps.collection).doc(jobDocumentId(dl.requestId));
  const snap = await ref.get();
  const view = jobView(snap);
  if (view === undefined) {
    // Never claimed: its document is created `failed` (none → failed).
    if (!canTransitionJob(undefined, 'failed')) {
      throw new Error('contract: a never-claimed request cannot be recorded failed');
    }
    try {
      await ref.create(deadLetteredDocument(dl, now, deps.retentionMs));
      return 'recorded';
    } catch (err: unknown) {
      // Created meanwhile by a delivery: decide again on what it wrote.
      if ((err as { code?: unknown }).code !== 6) throw err;
      return settle(deps, dl, now);
    }
  }
  if (isTerminalJobState(view.state) || view.state === 'dispatched' || view.state === 'running') {
    return 'already-handled';
  }
  const ctx: JobContext = {
    db: deps.firestore,
    collection: deps.collection,
    launcher: deps.launcher,
    options: { ...DEFAULT_RECONCILE_OPTIONS, leaseGraceMs: 0 },
    now,
  };
  if (view.state === 'queued') {
    const done = await endWithoutDispatch(
      ctx,
      view,
      view.cancelRequested ? 'cancelled' : 'failed',
      dl.error,
    );
    return done.action === 'raced'
      ? settle(deps, dl, now)
      : (done.action as 'failed' | 'cancelled');
  }
  const live = view.leaseOwner !== null && (view.leaseExpiresAtMs ?? 0) > now.getTime();
  if (live) return 'in-progress';
  const done = await settleDispatching(ctx, view, dl.error);
  if (done.action === 'raced') return 'in-progress';
  return done.action as 'failed' | 'adopted' | 'cancelled';
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
