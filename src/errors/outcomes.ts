/**
 * Every way a push delivery can end, with its HTTP status and a stable reason code. For Pub/Sub
 * the status is also the retry signal: it acks 102, 200, 201, 202 and 204 and redelivers (with
 * the subscription's backoff) on anything else. This table is the design document for that
 * choice; docs/operations.md carries the same table.
 */

/** Statuses Pub/Sub push treats as an ack. */
export const PUBSUB_ACK_STATUSES: ReadonlySet<number> = new Set([102, 200, 201, 202, 204]);

export interface OutcomeSpec {
  status: number;
  /** Why this status: what the sender should understand. */
  meaning: string;
}

export const OUTCOMES = {
  dispatched: { status: 201, meaning: 'an execution was started and recorded' },
  adopted: {
    status: 201,
    meaning: 'a takeover found the execution an earlier delivery started, and recorded it',
  },
  duplicate: { status: 200, meaning: 'the request id is already dispatched or finished' },
  rejected: {
    status: 200,
    meaning:
      'invalid request or envelope (`rejected:<field>`), recorded as `rejected` when the request id is known; acked so a poison message cannot loop',
  },
  'launch-failed': {
    status: 200,
    meaning: 'Cloud Run refused the run permanently (unknown job, INVALID_ARGUMENT, …): `failed`',
  },
  queued: {
    // Not 202, though Pub/Sub acks it: the official Pub/Sub emulator redelivers a push answered
    // 202 about once a second until it is answered otherwise
    // (bench/reliability/ack-status-probe.ts), and 200 is an ack everywhere.
    status: 200,
    meaning:
      'admitted but may not start now (`reason`: `runjob-rate`, `running-limit` or `concurrency-key`): recorded `queued`; the dispatcher starts it, Pub/Sub is done with it',
  },
  cancelled: {
    status: 200,
    meaning: 'cancellation was requested before the dispatch: recorded `cancelled`, never launched',
  },
  'in-progress': {
    status: 409,
    meaning: 'another delivery holds a live lease on this request id; retry later',
  },
  'lease-lost': {
    status: 409,
    meaning: 'the lease was taken over while this delivery worked; the new holder finishes',
  },
  'launch-retryable': {
    status: 503,
    meaning:
      'Cloud Run answered a retryable error while a redelivery looked for the execution of a cancelled request; nothing changed',
  },
  'store-unavailable': {
    status: 503,
    meaning: 'Firestore failed or was unreachable; nothing was half-written',
  },
  'budget-exceeded': {
    status: 503,
    meaning: 'no answer within the request budget; the lease protects the work left running',
  },
  'auth:missing-token': { status: 401, meaning: 'no `Authorization: Bearer` token' },
  'auth:invalid-token': { status: 401, meaning: 'malformed token, or bad signature' },
  'auth:unknown-key': { status: 401, meaning: 'token signed by a key not in the issuer key set' },
  'auth:expired': { status: 401, meaning: 'token expired or not yet valid' },
  'auth:wrong-audience': { status: 401, meaning: 'token audience is not the configured one' },
  'auth:wrong-issuer': { status: 401, meaning: 'token issuer is not Google' },
  'auth:wrong-service-account': {
    status: 403,
    meaning: 'token email is not the push service account, or it is not verified',
  },
  'auth:unexpected-subscription': {
    status: 403,
    meaning:
      'the envelope names a subscription this route does not expect (JOBBRIDGE_PUSH_SUBSCRIPTIONS): nothing recorded or launched',
  },
  'auth:certs-unavailable': {
    status: 503,
    meaning: "Google's signing certificates could not be fetched",
  },
  internal: { status: 500, meaning: 'a bug: logged with its cause' },
} as const satisfies Record<string, OutcomeSpec>;

export type OutcomeCode = keyof typeof OUTCOMES;
export type AuthOutcome = Extract<OutcomeCode, `auth:${string}`>;

/** A finished delivery: what to answer and what to log. */
export interface Outcome {
  code: OutcomeCode;
  /** `code`, or `rejected:<field>` for a rejection. */
  reason: string;
  status: number;
  detail?: Record<string, unknown>;
}

/** The outcome for `code`, its status taken from the table. */
export function outcome(code: OutcomeCode, detail?: Record<string, unknown>): Outcome {
  return { code, reason: code, status: OUTCOMES[code].status, ...(detail ? { detail } : {}) };
}

/**
 * A rejection naming the top-level field at fault (`rejected:env`, `rejected:taskCount`): stable,
 * because it never carries a producer's own names; the full paths go into `detail.issues`.
 */
export function rejected(
  field: string,
  issues: readonly { path: string; reason: string }[],
): Outcome {
  const top = field.split('.')[0] || '(root)';
  return { ...outcome('rejected', { issues }), reason: `rejected:${top}` };
}

/** Whether Pub/Sub will ack (not redeliver) this outcome. */
export function isAck(o: Outcome): boolean {
  return PUBSUB_ACK_STATUSES.has(o.status);
}

/**
 * Every way a delivery from the dead-letter topic's subscription can end. 2xx acks the dead
 * letter; anything else has Pub/Sub bring it back later.
 */
export const DEAD_LETTER_OUTCOMES = {
  admitted: {
    status: 201,
    meaning:
      'a valid request with its own request id, admitted as a push delivery is (started, or `queued` for the dispatcher): another subscription, or a later delivery, would have admitted it',
  },
  'admission-retryable': {
    status: 503,
    meaning:
      'admitting it met a retryable error (Firestore, Cloud Run, the answer budget): Pub/Sub brings it back',
  },
  rejected: {
    status: 200,
    meaning:
      'invalid (now): recorded `rejected` as its first delivery would have been (a document already there is left as it is)',
  },
  recorded: {
    status: 201,
    meaning:
      'a new `failed` document for a valid request keyed by a message id the dead-letter topic replaced (it cannot be told from the original, which may have run)',
  },
  failed: {
    status: 200,
    meaning:
      'the `dispatching` or `queued` job of such a request was ended `failed`, or Cloud Run refused the start of an admitted one permanently',
  },
  adopted: {
    status: 200,
    meaning: 'a dead delivery had started an execution: the job is `dispatched` after all',
  },
  cancelled: { status: 200, meaning: 'it had been cancelled before any dispatch' },
  'already-handled': {
    status: 200,
    meaning: 'admitted already (queued, dispatched, running) or ended: nothing is lost',
  },
  'in-progress': { status: 409, meaning: 'a delivery holds a live lease right now: retry later' },
  unidentified: {
    status: 200,
    meaning: 'the body names no request at all: logged and acked (it cannot be tied to one)',
  },
  'store-unavailable': { status: 503, meaning: 'Firestore failed: Pub/Sub brings it back' },
} as const satisfies Record<string, OutcomeSpec>;

export type DeadLetterOutcome = keyof typeof DEAD_LETTER_OUTCOMES;
