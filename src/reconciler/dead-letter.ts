import type { Firestore } from '@google-cloud/firestore';
import {
  canTransitionJob,
  isTerminalJobState,
  jobDocumentId,
  type ErrorInfo,
  type JobRequest,
  type RequestSource,
} from '../contract/index.ts';
import { DEFAULT_RECONCILE_OPTIONS } from '../config/index.ts';
import type { DeadLetterOutcome } from '../errors/index.ts';
import type { Launcher } from '../launcher/index.ts';
import { deadLetteredDocument } from '../store/job-claim-document.ts';
import { JobReconciles } from '../store/job-reconcile-store.ts';
import { endWithoutDispatch, settleDispatching, type JobContext } from './reconcile-job.ts';

/** What a dead-letter delivery says about the request and why it was given up on. */
export interface DeadLetter {
  requestId: string;
  request: JobRequest | undefined;
  job: string | undefined;
  source: RequestSource;
  error: ErrorInfo;
}

export interface DeadLetterSettleDeps {
  firestore: Firestore;
  collection: string;
  /** Finds an execution a dead delivery may have started before it died (it is adopted then). */
  launcher: Launcher;
  /** The job documents' dedup window (the bridge's retention), for `expireAt` of a new document. */
  retentionMs: number;
}

/**
 * Ends a dead-lettered request `failed` whether or not its job document exists, so no request
 * vanishes: a never-claimed one gets a document created `failed`; a job already dispatched or
 * ended is left alone; a `dispatching` one with a live lease is `in-progress` (try later); one
 * whose dead delivery had started an execution adopts it. Throws only Firestore's errors.
 */
export async function settleDeadLetter(
  deps: DeadLetterSettleDeps,
  dl: DeadLetter,
  now: Date,
): Promise<Exclude<DeadLetterOutcome, 'unidentified' | 'store-unavailable'>> {
  const store = new JobReconciles(deps.firestore, deps.collection);
  const docId = jobDocumentId(dl.requestId);
  const view = await store.read(docId);
  if (view === undefined) {
    // Never claimed: its document is created `failed` (none → failed).
    if (!canTransitionJob(undefined, 'failed')) {
      throw new Error('contract: a never-claimed request cannot be recorded failed');
    }
    const doc = deadLetteredDocument({ ...dl, now, retentionMs: deps.retentionMs });
    if (await store.createEnded(docId, doc)) return 'recorded';
    // Created meanwhile by a delivery: decide again on what it wrote.
    return settleDeadLetter(deps, dl, now);
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
    store,
  };
  if (view.state === 'queued') {
    const done = await endWithoutDispatch(
      ctx,
      view,
      view.cancelRequested ? 'cancelled' : 'failed',
      dl.error,
    );
    return done.action === 'raced'
      ? settleDeadLetter(deps, dl, now)
      : (done.action as 'failed' | 'cancelled');
  }
  const live = view.leaseOwner !== null && (view.leaseExpiresAtMs ?? 0) > now.getTime();
  if (live) return 'in-progress';
  const done = await settleDispatching(ctx, view, dl.error);
  if (done.action === 'raced') return 'in-progress';
  return done.action as 'failed' | 'adopted' | 'cancelled';
}
