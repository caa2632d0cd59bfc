import type { ReconcileOptions } from '../config/index.ts';
import type { DrainResult, Drainer } from '../dispatch/index.ts';
import type { JobAction } from './reconcile-job.ts';
import { reconcile, type ReconcileDeps } from './reconcile.ts';

export interface ReconcileAllDeps extends ReconcileDeps {
  /**
   * Drains the queue after the passes (a job that just ended frees a slot); without it, a call
   * only reconciles.
   */
  drainer?: Drainer;
}

export interface ReconcileAllOptions extends Partial<ReconcileOptions> {
  /** How many pages to follow before stopping (the next call goes on from `nextCursor`). */
  maxPages: number;
  /** Where the previous call stopped; omit to start from the beginning. */
  cursor?: string;
  /** Until when (epoch ms) the drain after the passes may run. */
  drainUntilMs?: number;
  /** Called with each page's actions as they are done (the CLI prints them). */
  onActions?: (actions: readonly JobAction[]) => void;
}

export interface ReconcileAllResult {
  /** Jobs read by the passes' queries. */
  examined: number;
  actions: JobAction[];
  /** What the drain did, when there was one. */
  drain?: DrainResult;
  /** Set when the call stopped with more to do. */
  nextCursor?: string;
}

/** The least a drain gets after slow passes (never more than the call's whole drain time). */
export const MIN_DRAIN_AFTER_PASSES_MS = 2000;

/**
 * Until when the drain after the passes runs: `drainUntilMs`, as the caller asked, but at least
 * `MIN_DRAIN_AFTER_PASSES_MS` (or the whole drain time, when shorter) after the passes, however
 * long they took. Passes over many running jobs on a loaded instance can outlast a short drain
 * time, and a drain left with no time would start nothing while the queue waits.
 */
export function drainDeadline(startedAtMs: number, drainUntilMs: number, passesDoneMs: number) {
  const drainForMs = Math.max(0, drainUntilMs - startedAtMs);
  return Math.max(drainUntilMs, passesDoneMs + Math.min(drainForMs, MIN_DRAIN_AFTER_PASSES_MS));
}

/**
 * One bounded reconcile call, the same for `POST /reconcile`, `jobbridge reconcile` and the test
 * suites: passes following the cursor up to `maxPages`, then the drain of queued jobs.
 */
export async function reconcileAll(
  deps: ReconcileAllDeps,
  options: ReconcileAllOptions,
): Promise<ReconcileAllResult> {
  const { maxPages, cursor, onActions, drainUntilMs, ...passOptions } = options;
  const startedAtMs = Date.now();
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
  const drain = deps.drainer
    ? await deps.drainer.drain(drainDeadline(startedAtMs, drainUntilMs ?? startedAtMs, Date.now()))
    : undefined;
  return {
    examined,
    actions,
    ...(drain ? { drain } : {}),
    ...(next !== undefined ? { nextCursor: next } : {}),
  };
}
