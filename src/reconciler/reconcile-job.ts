import type { Firestore } from '@google-cloud/firestore';
import {
  BRIDGE_EXECUTION_ENV,
  isTerminalJobState,
  scopedExecutionName,
  type ErrorInfo,
  type ExecutionScope,
  type JobState,
} from '../contract/index.ts';
import { isNotFound, isPreconditionFailure } from '../errors/index.ts';
import type { ExecutionSummary, Launcher, TaskSummary } from '../launcher/index.ts';
import { JobReconciles } from '../store/job-reconcile-store.ts';
import type { JobView } from '../store/job-view.ts';
import type { BatchMemberView, JobReconcileStore } from '../store/port.ts';
import type { ReconcileOptions } from '../config/index.ts';
import {
  executionOutcome,
  memberOutcome,
  RECONCILE_ERROR_CODES,
  taskTruth,
  type ExecutionOutcome,
  type MemberOutcome,
} from './execution-outcome.ts';

/** What the reconciler did with one job. */
export type ActionKind =
  | 'adopted'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'cancel-sent'
  | 'stale-heartbeat'
  | 'checked'
  | 'waiting'
  | 'raced'
  | 'error';

export interface JobAction {
  docId: string;
  requestId: string;
  from: JobState;
  action: ActionKind;
  /** An error code for terminal states, or why nothing was done. */
  reason?: string;
  executionName?: string;
}

/** What handling one job needs. */
export interface JobContext {
  db: Firestore;
  collection: string;
  launcher: Launcher;
  options: ReconcileOptions;
  now: Date;
  /** Defaults to the store over `db` and `collection`. */
  store?: JobReconcileStore;
  /** Where recorded execution names must lie (the bridge's project, region and allowlist). */
  scope?: ExecutionScope;
  /**
   * Reads shared by the jobs of one pass (an execution, its tasks, a batch's members): the
   * members of one batch share them, so a batch of k costs Cloud Run one read each, not k.
   */
  memo?: Map<string, Promise<unknown>>;
}

function memo<T>(ctx: JobContext, key: string, read: () => Promise<T>): Promise<T> {
  const cached = ctx.memo?.get(key) as Promise<T> | undefined;
  if (cached !== undefined) return cached;
  const fresh = read();
  ctx.memo?.set(key, fresh);
  return fresh;
}

const stores = new WeakMap<JobContext, JobReconcileStore>();

function storeOf(ctx: JobContext): JobReconcileStore {
  if (ctx.store) return ctx.store;
  let store = stores.get(ctx);
  if (store === undefined) {
    store = new JobReconciles(ctx.db, ctx.collection);
    stores.set(ctx, store);
  }
  return store;
}

function action(view: JobView, kind: ActionKind, extra: Partial<JobAction> = {}): JobAction {
  return { docId: view.docId, requestId: view.requestId, from: view.state, action: kind, ...extra };
}

/** Decides and applies what one non-terminal job needs. Throws only on I/O errors. */
export async function reconcileJob(ctx: JobContext, view: JobView): Promise<JobAction> {
  switch (view.state) {
    case 'queued':
      return view.cancelRequested
        ? endWithoutDispatch(ctx, view, 'cancelled', cancelledBeforeDispatch())
        : action(view, 'waiting', { reason: 'queued' });
    case 'dispatching':
      return reconcileDispatching(ctx, view);
    case 'dispatched':
    case 'running':
      return reconcileExecution(ctx, view);
    default:
      return action(view, 'waiting', { reason: `state ${view.state}` });
  }
}

function cancelledBeforeDispatch(): ErrorInfo {
  return { code: RECONCILE_ERROR_CODES.cancelled, message: 'cancelled before any dispatch' };
}

export async function endWithoutDispatch(
  ctx: JobContext,
  view: JobView,
  to: 'failed' | 'cancelled',
  error: ErrorInfo,
): Promise<JobAction> {
  const written = await storeOf(ctx).endUnlaunched(view, to, error, ctx.now);
  return action(view, written ? to : 'raced', { reason: error.code });
}

async function findExecution(
  ctx: JobContext,
  view: JobView,
): Promise<ExecutionSummary | undefined> {
  if (view.job === '') return undefined;
  // A batch member runs in its batch's execution, found by the batch id it carries.
  const found =
    view.batchId !== undefined
      ? await ctx.launcher.findExecutionsByEnv(view.job, BRIDGE_EXECUTION_ENV.batchId, view.batchId)
      : await ctx.launcher.findExecutionsByEnv(
          view.job,
          BRIDGE_EXECUTION_ENV.requestId,
          view.requestId,
        );
  return found[0];
}

/**
 * A `dispatching` job whose lease expired: its delivery died, and Pub/Sub has not brought the
 * message back within the grace (it was acked, or dead-lettered). An execution started by the
 * dead delivery is adopted; otherwise the job fails with `lease-expired` (or ends `cancelled`
 * when that was asked for), so it never stays `dispatching` for ever.
 */
async function reconcileDispatching(ctx: JobContext, view: JobView): Promise<JobAction> {
  const nowMs = ctx.now.getTime();
  const live = view.leaseOwner !== null && (view.leaseExpiresAtMs ?? 0) > nowMs;
  if (live) return action(view, 'waiting', { reason: 'lease live' });
  // A released lease (owner null) ended when the document was last written.
  const expiredAtMs =
    view.leaseOwner === null ? view.updatedAtMs : (view.leaseExpiresAtMs ?? view.updatedAtMs);
  if (!view.cancelRequested && nowMs - expiredAtMs < ctx.options.leaseGraceMs) {
    return action(view, 'waiting', { reason: 'lease expired within the grace period' });
  }
  const seconds = Math.round((nowMs - expiredAtMs) / 1000);
  return settleDispatching(ctx, view, {
    code: RECONCILE_ERROR_CODES.leaseExpired,
    message: `the dispatch lease expired ${seconds} s ago and no execution was started for request id "${view.requestId}"; its Pub/Sub message was not redelivered (acked or dead-lettered)`,
  });
}

/**
 * Ends a `dispatching` job whose lease is no longer live: adopts the execution a dead delivery
 * may have started (→ `dispatched`), else `cancelled` when asked for, else `failed` with
 * `failure`. Guarded on the lease the caller read, so a delivery that took it over meanwhile wins.
 */
export async function settleDispatching(
  ctx: JobContext,
  view: JobView,
  failure: ErrorInfo,
): Promise<JobAction> {
  const found = await findExecution(ctx, view);
  if (found === undefined) {
    if (view.cancelRequested)
      return endWithoutDispatch(ctx, view, 'cancelled', cancelledBeforeDispatch());
    return endWithoutDispatch(ctx, view, 'failed', failure);
  }
  const written = await storeOf(ctx).recordAdopted(view, found.name, ctx.now);
  if (!written) return action(view, 'raced', { executionName: found.name });
  // The cancel query finds it again on the next pass; asking now saves a pass of running time.
  if (view.cancelRequested) await cancelExecution(ctx.launcher, found.name);
  return action(view, 'adopted', { executionName: found.name });
}

/** CancelExecution, tolerating an execution that has already ended or gone. */
async function cancelExecution(launcher: Launcher, executionName: string): Promise<void> {
  try {
    await launcher.cancelExecution(executionName);
  } catch (err: unknown) {
    if (!isPreconditionFailure(err) && !isNotFound(err)) throw err;
  }
}

async function reconcileExecution(ctx: JobContext, view: JobView): Promise<JobAction> {
  const store = storeOf(ctx);
  let executionName = view.executionName;
  if (executionName !== undefined && ctx.scope !== undefined) {
    // The name was read from a document anyone with write access could have forged.
    const scoped = scopedExecutionName(executionName, ctx.scope);
    if (!scoped.ok || scoped.job !== view.job) {
      const why = scoped.ok
        ? `is of job ${scoped.job}, not the document's ${view.job}`
        : scoped.reason;
      const error = {
        code: RECONCILE_ERROR_CODES.executionUntrusted,
        message: `execution name ${executionName.slice(0, 300)} ${why}: never read or cancelled`,
      };
      const written = await store.recordExecutionMissing(view, error, ctx.now);
      return action(view, written ? 'failed' : 'raced', { reason: error.code });
    }
    executionName = scoped.name;
  }
  if (executionName === undefined) {
    // Not written by the bridge (it always records one); look it up rather than guess.
    executionName = (await findExecution(ctx, view))?.name;
    if (executionName === undefined)
      return action(view, 'waiting', { reason: 'no execution name' });
  }
  let execution: ExecutionSummary;
  try {
    const name = executionName;
    execution = await memo(ctx, `execution:${name}`, () => ctx.launcher.getExecution(name));
  } catch (err: unknown) {
    if (!isNotFound(err)) throw err;
    const error = {
      code: RECONCILE_ERROR_CODES.executionMissing,
      message: `execution ${executionName} no longer exists on Cloud Run (deleted)`,
    };
    const written = await store.recordExecutionMissing(view, error, ctx.now);
    return action(view, written ? 'failed' : 'raced', { reason: error.code, executionName });
  }
  const outcome = executionOutcome(execution);
  if (view.batchId !== undefined) {
    const members = await memo(ctx, `batch:${view.batchId}`, () =>
      store.batchMembers(view.batchId ?? ''),
    );
    const self = members?.find((m) => m.docId === view.docId);
    // A member the batch document no longer lists cannot be told apart: the execution decides.
    if (members !== undefined && self !== undefined)
      return reconcileMember(ctx, view, { executionName, execution, outcome, members, self });
  }
  if (outcome !== undefined)
    return recordEnded(
      ctx,
      view,
      executionName,
      execution,
      {
        ...outcome,
        succeededCount: execution.succeededCount,
        failedCount: execution.failedCount,
      },
      () => ctx.launcher.listTasks(executionName),
    );
  if (view.cancelRequested) {
    await cancelExecution(ctx.launcher, executionName);
    const written = await store.recordCancelSent(view, ctx.now);
    return action(view, written ? 'cancel-sent' : 'raced', { executionName });
  }
  return recordHeartbeats(ctx, view, executionName);
}

interface MemberContext {
  executionName: string;
  execution: ExecutionSummary;
  outcome: ExecutionOutcome | undefined;
  members: BatchMemberView[];
  self: BatchMemberView;
}

/**
 * A member of a batch: its tasks are the slice `offset … offset + taskCount - 1` of the batch's
 * execution. Once the execution has ended, the member ends as its own tasks did (ListTasks, by
 * index): a task of another member that failed or was killed never fails this one. While it
 * runs, a cancel of this member is its workers' to carry out (its tasks end `cancelled`); the
 * execution itself is cancelled only when every member is cancelled (or has ended).
 */
async function reconcileMember(
  ctx: JobContext,
  view: JobView,
  m: MemberContext,
): Promise<JobAction> {
  const store = storeOf(ctx);
  const { executionName, execution, outcome, self } = m;
  if (outcome === undefined) {
    if (!view.cancelRequested) return recordHeartbeats(ctx, view, executionName);
    const everyone = m.members.every(
      (o) => o.cancelRequested || o.state === undefined || isTerminalJobState(o.state),
    );
    if (!everyone)
      return action(view, 'waiting', {
        reason: `batch ${view.batchId ?? ''}: its execution runs on for members not cancelled`,
        executionName,
      });
    await memo(ctx, `cancel:${executionName}`, () => cancelExecution(ctx.launcher, executionName));
    const written = await store.recordCancelSent(view, ctx.now);
    return action(view, written ? 'cancel-sent' : 'raced', { executionName });
  }
  const all = await memo(ctx, `tasks:${executionName}`, () =>
    ctx.launcher.listTasks(executionName),
  );
  const mine = all
    .filter((t) => t.index >= self.offset && t.index < self.offset + self.taskCount)
    .map((t) => ({ ...t, index: t.index - self.offset }));
  const ended = memberOutcome(outcome, mine, self.taskCount, view.cancelRequested);
  return recordEnded(ctx, view, executionName, execution, ended, () => Promise.resolve(mine));
}

/**
 * Records the end of a job from its ended execution (or its slice of a batch's): unless it
 * succeeded, Cloud Run's per-task truth first ends the task documents the workers could not
 * finish (killed before or while writing), so that the job's counts and its tasks' states agree,
 * and a failure's message names which tasks failed and why, and what the workers wrote.
 */
async function recordEnded(
  ctx: JobContext,
  view: JobView,
  executionName: string,
  execution: ExecutionSummary,
  ended: MemberOutcome,
  tasks: () => Promise<TaskSummary[]>,
): Promise<JobAction> {
  const store = storeOf(ctx);
  let error = ended.error;
  if (ended.state !== 'succeeded') {
    const truth = taskTruth(executionName, await tasks(), execution.completionTime ?? ctx.now);
    const failed = error !== null && ended.state === 'failed';
    // What the workers wrote, read before the reconciler writes for them.
    const evidence = failed ? await store.workerEvidence(view.docId) : '';
    const corrected = await store.recordTaskEnds(view.docId, truth.ends, ctx.now);
    if (error !== null && failed) {
      const fixed =
        corrected.length > 0
          ? `; task document(s) ${corrected.join(', ')} recorded from Cloud Run (the worker did not)`
          : '';
      error = {
        ...error,
        message: `${error.message}; ${truth.summary}; ${evidence}${fixed}`.slice(0, 2000),
      };
    }
  }
  // The execution's counts are the truth once it has ended, whatever the workers managed to write.
  const written = await store.recordExecutionEnded(
    view,
    {
      state: ended.state,
      error,
      executionName,
      succeededCount: ended.succeededCount,
      failedCount: ended.failedCount,
      completionTime: execution.completionTime ?? null,
      startTime: execution.startTime ?? null,
    },
    ctx.now,
  );
  return action(view, written ? ended.state : 'raced', {
    ...(error ? { reason: error.code } : {}),
    executionName,
  });
}

/**
 * The execution still runs but the job was not written for a while: look at the heartbeats and
 * record what is stale, without changing the state (Cloud Run, not a missed heartbeat, says when
 * a task has ended). Writing `updatedAt` sends the job to the back of the stale query.
 */
async function recordHeartbeats(
  ctx: JobContext,
  view: JobView,
  executionName: string,
): Promise<JobAction> {
  const store = storeOf(ctx);
  const cutoff = new Date(ctx.now.getTime() - ctx.options.heartbeatStaleMs);
  const stale = await store.staleTasks(view.docId, cutoff);
  const staleHeartbeat =
    stale.length === 0
      ? null
      : {
          taskIndexes: stale.map((t) => t.taskIndex),
          oldestHeartbeatAt: stale[0]?.heartbeatAt ?? null,
          checkedAt: ctx.now,
        };
  const written = await store.recordHeartbeatCheck(view, staleHeartbeat, ctx.now);
  if (!written) return action(view, 'raced', { executionName });
  return action(view, stale.length > 0 ? 'stale-heartbeat' : 'checked', {
    executionName,
    ...(stale.length > 0 ? { reason: `tasks ${stale.map((t) => t.taskIndex).join(',')}` } : {}),
  });
}
