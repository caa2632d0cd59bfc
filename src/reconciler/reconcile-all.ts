import { dispatchAllQueued, type QueueDeps, type QueuedDispatch } from '../dispatch/index.ts';
import type { LaunchLimiter } from '../dispatch/limiter.ts';
import type { ReconcileOptions } from '../config/index.ts';
import type { JobAction } from './reconcile-job.ts';
import { reconcile, type ReconcileDeps } from './reconcile.ts';

export interface ReconcileAllDeps extends ReconcileDeps {
  /**
   * Per-key concurrency of the queue: with more than 0, the queued jobs whose key has room are
   * dispatched after the passes (a job that just ended frees its key's slot).
   */
  keyConcurrency: number;
  /** The lease a drained job is dispatched under. */
  leaseMs: number;
  /** The caller's RunJob pacing, when it has one (a bridge instance); unlimited without. */
  limiter?: LaunchLimiter;
}

export interface ReconcileAllOptions extends Partial<ReconcileOptions> {
  /** How many pages to follow before stopping (the next call goes on from `nextCursor`). */
  maxPages: number;
  /** Where the previous call stopped; omit to start from the beginning. */
  cursor?: string;
  /** Called with each page's actions as they are done (the CLI prints them). */
  onActions?: (actions: readonly JobAction[]) => void;
}

export interface ReconcileAllResult {
  /** Jobs read by the passes' queries. */
  examined: number;
  actions: JobAction[];
  /** What the drain did to queued jobs, oldest first. */
  queued: QueuedDispatch[];
  /** Set when the call stopped with more to do. */
  nextCursor?: string;
}

/**
 * One bounded reconcile call, the same for `POST /reconcile`, `jobbridge reconcile` and the test
 * suites: passes following the cursor up to `maxPages`, then the drain of queued jobs.
 */
export async function reconcileAll(
  deps: ReconcileAllDeps,
  options: ReconcileAllOptions,
): Promise<ReconcileAllResult> {
  const { maxPages, cursor, onActions, ...passOptions } = options;
  const actions: JobAction[] = [];
  let examined = 0;
  let next = cursor;
  for (let page = 0; page < maxPages; page++) {
    const result = await reconcile(deps, { ...passOptions, ...(next ? { cursor: next } : {}) });
    examined += result.examined;
    actions.push(...result.actions);
    onActions?.(result.actions);
    next = result.nextCursor;
    if (next === undefined) break;
  }
  let queued: QueuedDispatch[] = [];
  if (deps.keyConcurrency > 0) {
    const queueDeps: QueueDeps = {
      firestore: deps.firestore,
      collection: deps.collection,
      keyConcurrency: deps.keyConcurrency,
      launcher: deps.launcher,
      leaseMs: deps.leaseMs,
      ...(deps.limiter ? { limiter: deps.limiter } : {}),
      ...(deps.now ? { now: deps.now } : {}),
    };
    queued = await dispatchAllQueued(queueDeps);
  }
  return { examined, actions, queued, ...(next !== undefined ? { nextCursor: next } : {}) };
}
