import {
  FieldPath,
  Timestamp,
  type Firestore,
  type Query,
  type QuerySnapshot,
} from '@google-cloud/firestore';
import type { JobState } from '../contract/index.ts';
import type { Launcher } from '../launcher/index.ts';
import type { Logger } from '../log.ts';
import { DEFAULT_RECONCILE_OPTIONS, type ReconcileOptions } from './config.ts';
import { decodeCursor, encodeCursor, type ReconcileCursor } from './cursor.ts';
import { jobView, type JobView } from './job-view.ts';
import { reconcileJob, type JobAction } from './reconcile-job.ts';

/** The states a job can be stuck in. `queued` waits for a slot by design: only a cancel moves it. */
export const STALE_STATES: readonly JobState[] = ['dispatching', 'dispatched', 'running'];
export const CANCELLABLE_STATES: readonly JobState[] = [
  'queued',
  'dispatching',
  'dispatched',
  'running',
];

/** The clients one pass uses, created by the caller (CLI, server) and passed in. */
export interface ReconcileDeps {
  firestore: Firestore;
  /** The job documents' collection (JOBBRIDGE_COLLECTION). */
  collection: string;
  launcher: Launcher;
  now?: () => Date;
  log?: Logger;
}

export interface ReconcilePassOptions extends Partial<ReconcileOptions> {
  /** Where the previous call stopped (its `nextCursor`); omit to start from the beginning. */
  cursor?: string;
}

export interface ReconcileResult {
  /** Jobs read by the two queries. */
  examined: number;
  actions: JobAction[];
  /** Set when a page was full: pass it to the next call to go on where this one stopped. */
  nextCursor?: string;
}

function staleQuery(deps: ReconcileDeps, cutoff: Date, cursor: ReconcileCursor): Query {
  // The composite index (state ASC, updatedAt ASC) serves this: docs/operations.md, "Indexes it needs".
  let query = deps.firestore
    .collection(deps.collection)
    .where('state', 'in', [...STALE_STATES])
    .where('updatedAt', '<', cutoff)
    .orderBy('updatedAt')
    .orderBy(FieldPath.documentId());
  if (cursor.stale) {
    query = query.startAfter(Timestamp.fromMillis(cursor.stale.updatedAtMs), cursor.stale.docId);
  }
  return query;
}

function cancelQuery(deps: ReconcileDeps, cursor: ReconcileCursor): Query {
  // The composite index (cancelRequested ASC, state ASC) serves this: docs/operations.md, "Indexes it needs".
  let query = deps.firestore
    .collection(deps.collection)
    .where('cancelRequested', '==', true)
    .where('state', 'in', [...CANCELLABLE_STATES])
    .orderBy(FieldPath.documentId());
  if (cursor.cancel) query = query.startAfter(cursor.cancel);
  return query;
}

/**
 * One reconcile pass: finds jobs that are no longer true — `dispatching` with an expired lease,
 * `dispatched`/`running` whose execution ended or went silent, cancels asked for — and writes
 * the truth from Cloud Run. Bounded: at most `pageSize` jobs from each of two queries; when a
 * page is full, `nextCursor` lets the next call go on. Cheap when nothing is stale: two indexed
 * queries that return nothing. Every write is guarded, so a worker's newer terminal state wins.
 */
export async function reconcile(
  deps: ReconcileDeps,
  options: ReconcilePassOptions = {},
): Promise<ReconcileResult> {
  const opts: ReconcileOptions = { ...DEFAULT_RECONCILE_OPTIONS, ...definedOnly(options) };
  const now = deps.now?.() ?? new Date();
  const cursor = decodeCursor(options.cursor);
  const cutoff = new Date(now.getTime() - opts.staleAfterMs);
  const [cancels, stale] = await Promise.all([
    cancelQuery(deps, cursor).limit(opts.pageSize).get(),
    staleQuery(deps, cutoff, cursor).limit(opts.pageSize).get(),
  ]);
  const views = new Map<string, JobView>();
  for (const snap of [...cancels.docs, ...stale.docs]) {
    const view = jobView(snap);
    if (view) views.set(view.docId, view);
  }
  const ctx = {
    db: deps.firestore,
    collection: deps.collection,
    launcher: deps.launcher,
    options: opts,
    now,
  };
  const actions: JobAction[] = [];
  // One job at a time: a pass is background work and must not burst against Cloud Run's quotas.
  for (const view of views.values()) {
    try {
      actions.push(await reconcileJob(ctx, view));
    } catch (err: unknown) {
      // One job's failure must not stop the pass; the next pass tries it again.
      const message = err instanceof Error ? err.message : String(err);
      deps.log?.warn({ err, docId: view.docId }, 'reconcile: job skipped after an error');
      actions.push({
        docId: view.docId,
        requestId: view.requestId,
        from: view.state,
        action: 'error',
        reason: message,
      });
    }
  }
  for (const a of actions) {
    if (a.action !== 'waiting') deps.log?.info({ ...a }, 'reconcile: job');
  }
  const next = nextCursor(cancels, stale, opts.pageSize);
  return {
    examined: views.size,
    actions,
    ...(next ? { nextCursor: encodeCursor(next) } : {}),
  };
}

function nextCursor(
  cancels: QuerySnapshot,
  stale: QuerySnapshot,
  pageSize: number,
): ReconcileCursor | undefined {
  const cursor: ReconcileCursor = {};
  const lastCancel = cancels.docs.at(-1);
  if (cancels.size >= pageSize && lastCancel) cursor.cancel = lastCancel.id;
  const lastStale = stale.docs.at(-1);
  if (stale.size >= pageSize && lastStale) {
    const view = jobView(lastStale);
    cursor.stale = { updatedAtMs: view?.updatedAtMs ?? 0, docId: lastStale.id };
  }
  return cursor.cancel !== undefined || cursor.stale !== undefined ? cursor : undefined;
}

function definedOnly(options: ReconcilePassOptions): Partial<ReconcileOptions> {
  const out: Partial<ReconcileOptions> = {};
  for (const key of ['staleAfterMs', 'leaseGraceMs', 'heartbeatStaleMs', 'pageSize'] as const) {
    const value = options[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
