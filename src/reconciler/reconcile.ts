import type { ExecutionScope } from '../contract/index.ts';
import type { Firestore } from '@google-cloud/firestore';
import { errorMessage } from '../errors/index.ts';
import type { Launcher } from '../launcher/index.ts';
import type { Logger } from '../log.ts';
import { JobReconciles } from '../store/job-reconcile-store.ts';
import type { JobView } from '../store/job-view.ts';
import type { ReconcilePage } from '../store/port.ts';
import { DEFAULT_RECONCILE_OPTIONS, type ReconcileOptions } from '../config/index.ts';
import { decodeCursor, encodeCursor, type ReconcileCursor } from './cursor.ts';
import { reconcileJob, type JobAction } from './reconcile-job.ts';

/** The clients one pass uses, created by the caller (CLI, server) and passed in. */
export interface ReconcileDeps {
  firestore: Firestore;
  /** The job documents' collection (JOBBRIDGE_COLLECTION). */
  collection: string;
  launcher: Launcher;
  now?: () => Date;
  log?: Logger;
  /**
   * Where execution names read from documents must lie. The launcher always keeps them to its
   * project and region; this adds the allowlist and the document's own job.
   */
  scope?: ExecutionScope;
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
  const store = new JobReconciles(deps.firestore, deps.collection);
  const page = await store.page(cutoff, opts.pageSize, cursor);
  const views = new Map<string, JobView>();
  for (const view of [...page.cancels, ...page.stale]) views.set(view.docId, view);
  const ctx = {
    db: deps.firestore,
    collection: deps.collection,
    launcher: deps.launcher,
    options: opts,
    now,
    store,
    memo: new Map<string, Promise<unknown>>(),
    ...(deps.scope ? { scope: deps.scope } : {}),
  };
  const actions: JobAction[] = [];
  // One job at a time: a pass is background work and must not burst against Cloud Run's quotas.
  for (const view of views.values()) {
    try {
      actions.push(await reconcileJob(ctx, view));
    } catch (err: unknown) {
      // One job's failure must not stop the pass; the next pass tries it again.
      const message = errorMessage(err);
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
  const next = nextCursor(page);
  return {
    examined: views.size,
    actions,
    ...(next ? { nextCursor: encodeCursor(next) } : {}),
  };
}

function nextCursor(page: ReconcilePage): ReconcileCursor | undefined {
  const cursor: ReconcileCursor = {};
  const lastCancel = page.cancels.at(-1);
  if (page.cancelsFull && lastCancel) cursor.cancel = lastCancel.docId;
  const lastStale = page.stale.at(-1);
  if (page.staleFull && lastStale) {
    cursor.stale = { updatedAtMs: lastStale.updatedAtMs, docId: lastStale.docId };
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
