import {
  requestDigest,
  type ErrorInfo,
  type FieldIssue,
  type JobDocument,
  type JobRequest,
  type QueueReason,
  type RequestSource,
} from '../contract/index.ts';

/** What a claim needs to know about the request and the delivery. */
export interface ClaimInput {
  docId: string;
  requestId: string;
  request: JobRequest;
  source: RequestSource;
  /** One id per delivery attempt: whoever holds it may start the execution. */
  owner: string;
  now: Date;
  leaseMs: number;
  /** How long the document lives (the TTL on `expireAt`): the dedup window. */
  retentionMs: number;
}

/** The request fields as stored: env names only, never values (they may hold secrets). */
export function requestFields(
  request: JobRequest,
): Pick<
  JobDocument,
  | 'job'
  | 'function'
  | 'args'
  | 'envNames'
  | 'taskCount'
  | 'timeoutSeconds'
  | 'labels'
  | 'concurrencyKey'
  | 'digest'
> {
  return {
    job: request.job,
    function: request.function ?? null,
    args: request.args ?? [],
    envNames: Object.keys(request.env ?? {}).sort(),
    taskCount: request.taskCount ?? null,
    timeoutSeconds: request.timeoutSeconds ?? null,
    labels: request.labels ?? {},
    concurrencyKey: request.concurrencyKey ?? null,
    digest: requestDigest(request),
  };
}

/**
 * The request fields of a document whose request could not be read (a rejection, a dead letter
 * that does not parse): the job name it gave, cut to a sane length, and nothing else.
 */
export function unreadRequestFields(job: string | undefined): ReturnType<typeof requestFields> {
  return {
    job: (job ?? '').slice(0, 63),
    function: null,
    args: [],
    envNames: [],
    taskCount: null,
    timeoutSeconds: null,
    labels: {},
    digest: null,
  };
}

/** Clears the dispatch lease: every write that ends or gives up a lease spreads this. */
export const LEASE_CLEARED = {
  'dispatch.leaseOwner': null,
  'dispatch.leaseExpiresAt': null,
} as const;

/**
 * Takes the dispatch lease for `owner` until `expiresAt`, as the `attempts`-th holder: a claim's
 * takeover, a queued entry's lease, a batch member's claim.
 */
export function leaseTaken(owner: string, expiresAt: Date, attempts: number, now: Date) {
  return {
    state: 'dispatching',
    'dispatch.leaseOwner': owner,
    'dispatch.leaseExpiresAt': expiresAt,
    'dispatch.attempts': attempts,
    updatedAt: now,
  } as const;
}

/** The `dispatch` of a document no delivery holds or ever held. */
export const NO_DISPATCH = { leaseOwner: null, leaseExpiresAt: null, attempts: 0 };

/**
 * The request as the job document keeps it until dispatch: exact JSON, so that a stored `args: []`
 * still means "clear the args" and env values survive (the document holds them only until then).
 */
export function pendingRequestOf(request: JobRequest): string {
  return JSON.stringify(request);
}

/** The `dispatching` document a fresh claim creates, holding the lease for `owner`. */
export function claimDocument(input: ClaimInput): JobDocument {
  return {
    requestId: input.requestId,
    state: 'dispatching',
    ...requestFields(input.request),
    source: input.source,
    pendingRequest: pendingRequestOf(input.request),
    dispatch: {
      leaseOwner: input.owner,
      leaseExpiresAt: new Date(input.now.getTime() + input.leaseMs),
      attempts: 1,
    },
    error: null,
    createdAt: input.now,
    updatedAt: input.now,
    expireAt: new Date(input.now.getTime() + input.retentionMs),
  };
}

/** The `queued` document of an admitted request that may not start now, waiting for `reason`. */
export function queuedDocument(input: ClaimInput, reason: QueueReason): JobDocument {
  return {
    ...claimDocument(input),
    state: 'queued',
    queue: { reason, queuedAt: input.now, checkStarted: false },
    dispatch: { ...NO_DISPATCH },
  };
}

/** What a rejected request leaves behind, so consumers can see why it never ran. */
export interface RejectionInput {
  docId: string;
  requestId: string;
  /** The job name the data gave, if any (may be invalid, so it is cut to a sane length). */
  job: string | undefined;
  source: RequestSource;
  issues: readonly FieldIssue[];
  reason: string;
  now: Date;
  retentionMs: number;
}

export function rejectedDocument(input: RejectionInput): JobDocument {
  const error: ErrorInfo = {
    code: input.reason,
    message: input.issues.map((i) => `${i.path}: ${i.reason}`).join('; '),
  };
  return {
    requestId: input.requestId,
    state: 'rejected',
    ...unreadRequestFields(input.job),
    source: input.source,
    dispatch: NO_DISPATCH,
    error,
    issues: input.issues.map((i) => ({ path: i.path, reason: i.reason })),
    createdAt: input.now,
    updatedAt: input.now,
    finishedAt: input.now,
    expireAt: new Date(input.now.getTime() + input.retentionMs),
  };
}

/** What a dead letter of a request no delivery ever claimed leaves behind. */
export interface DeadLetteredInput {
  requestId: string;
  /** The request, when the dead letter's data still parses. */
  request: JobRequest | undefined;
  /** The job name the data gave, if any. */
  job: string | undefined;
  source: RequestSource;
  error: ErrorInfo;
  now: Date;
  retentionMs: number;
}

/** The `failed` document of a request no delivery ever claimed: so it does not vanish. */
export function deadLetteredDocument(input: DeadLetteredInput): JobDocument {
  return {
    requestId: input.requestId,
    state: 'failed',
    ...(input.request ? requestFields(input.request) : unreadRequestFields(input.job)),
    source: input.source,
    dispatch: NO_DISPATCH,
    error: input.error,
    createdAt: input.now,
    updatedAt: input.now,
    finishedAt: input.now,
    expireAt: new Date(input.now.getTime() + input.retentionMs),
  };
}
