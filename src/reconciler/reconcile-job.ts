import type { DocumentData, Firestore } from '@google-cloud/firestore';
import { status } from '@grpc/grpc-js';
import { BRIDGE_EXECUTION_ENV, type ErrorInfo, type JobState } from '../contract/index.ts';
import { grpcCode, type ExecutionSummary, type Launcher } from '../launcher/index.ts';
import type { ReconcileOptions } from './config.ts';
import { executionOutcome, RECONCILE_ERROR_CODES } from './execution-outcome.ts';
import { guardedUpdate } from './guarded-write.ts';
import { millisOf, type JobView } from './job-view.ts';
import { staleTasks, workerEvidence } from './task-evidence.ts';

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

/** The lease a decision was based on is still the one on the document: nobody took it over. */
function sameLease(view: JobView): (data: DocumentData) => boolean {
  return (data) => {
    const dispatch = (data.dispatch ?? {}) as Record<string, unknown>;
    return (
      (dispatch.leaseOwner ?? null) === view.leaseOwner &&
      millisOf(dispatch.leaseExpiresAt) === view.leaseExpiresAtMs
    );
  };
}

export async function endWithoutDispatch(
  ctx: JobContext,
  view: JobView,
  to: 'failed' | 'cancelled',
  error: ErrorInfo,
): Promise<JobAction> {
  const written = await guardedUpdate(
    ctx.db,
    ctx.db.collection(ctx.collection).doc(view.docId),
    { state: view.state, to, holds: sameLease(view) },
    {
      state: to,
      error,
      'dispatch.leaseOwner': null,
      'dispatch.leaseExpiresAt': null,
      finishedAt: ctx.now,
      updatedAt: ctx.now,
    },
  );
  return action(view, written ? to : 'raced', { reason: error.code });
}

async function findExecution(
  ctx: JobContext,
  view: JobView,
): Promise<ExecutionSummary | undefined> {
  if (view.job === '') return undefined;
  const found = await ctx.launcher.findExecutionsByEnv(
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
  const written = await guardedUpdate(
    ctx.db,
    ctx.db.collection(ctx.collection).doc(view.docId),
    { state: 'dispatching', to: 'dispatched', holds: sameLease(view) },
    {
      state: 'dispatched',
      'dispatch.leaseOwner': null,
      'dispatch.leaseExpiresAt': null,
      'dispatch.executionName': found.name,
      'dispatch.adopted': true,
      dispatchedAt: ctx.now,
      updatedAt: ctx.now,
    },
  );
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
    const code = grpcCode(err);
    if (code !== status.FAILED_PRECONDITION && code !== status.NOT_FOUND) throw err;
  }
}

async function reconcileExecution(ctx: JobContext, view: JobView): Promise<JobAction> {
  const ref = ctx.db.collection(ctx.collection).doc(view.docId);
  let executionName = view.executionName;
  if (executionName === undefined) {
    // Not written by the bridge (it always records one); look it up rather than guess.
    executionName = (await findExecution(ctx, view))?.name;
    if (executionName === undefined)
      return action(view, 'waiting', { reason: 'no execution name' });
  }
  let execution: ExecutionSummary;
  try {
    execution = await ctx.launcher.getExecution(executionName);
  } catch (err: unknown) {
    if (grpcCode(err) !== status.NOT_FOUND) throw err;
    const error = {
      code: RECONCILE_ERROR_CODES.executionMissing,
      message: `execution ${executionName} no longer exists on Cloud Run (deleted)`,
    };
    const written = await guardedUpdate(
      ctx.db,
      ref,
      { state: view.state, to: 'failed' },
      {
        state: 'failed',
        error,
        finishedAt: ctx.now,
        updatedAt: ctx.now,
      },
    );
    return action(view, written ? 'failed' : 'raced', { reason: error.code, executionName });
  }
  const outcome = executionOutcome(execution);
  if (outcome !== undefined) {
    let error = outcome.error;
    if (error && outcome.state === 'failed') {
      error = { ...error, message: `${error.message}; ${await workerEvidence(ref)}` };
    }
    // The execution's counts are the truth once it has ended, whatever the workers managed to write.
    const written = await guardedUpdate(
      ctx.db,
      ref,
      { state: view.state, to: outcome.state },
      {
        state: outcome.state,
        error,
        tasks: { running: 0, succeeded: execution.succeededCount, failed: execution.failedCount },
        'dispatch.executionName': executionName,
        finishedAt: execution.completionTime ?? ctx.now,
        ...(view.state === 'dispatched' ? { startedAt: execution.startTime ?? null } : {}),
        updatedAt: ctx.now,
      },
    );
    return action(view, written ? outcome.state : 'raced', {
      ...(error ? { reason: error.code } : {}),
      executionName,
    });
  }
  if (view.cancelRequested) {
    await cancelExecution(ctx.launcher, executionName);
    const written = await guardedUpdate(
      ctx.db,
      ref,
      { state: view.state },
      {
        'dispatch.cancelSentAt': ctx.now,
        updatedAt: ctx.now,
      },
    );
    return action(view, written ? 'cancel-sent' : 'raced', { executionName });
  }
  return recordHeartbeats(ctx, view, executionName);
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
  const ref = ctx.db.collection(ctx.collection).doc(view.docId);
  const cutoff = new Date(ctx.now.getTime() - ctx.options.heartbeatStaleMs);
  const stale = await staleTasks(ref, cutoff);
  const staleHeartbeat =
    stale.length === 0
      ? null
      : {
          taskIndexes: stale.map((t) => t.taskIndex),
          oldestHeartbeatAt: stale[0]?.heartbeatAt ?? null,
          checkedAt: ctx.now,
        };
  const written = await guardedUpdate(
    ctx.db,
    ref,
    { state: view.state },
    {
      staleHeartbeat,
      reconciledAt: ctx.now,
      updatedAt: ctx.now,
    },
  );
  if (!written) return action(view, 'raced', { executionName });
  return action(view, stale.length > 0 ? 'stale-heartbeat' : 'checked', {
    executionName,
    ...(stale.length > 0 ? { reason: `tasks ${stale.map((t) => t.taskIndex).join(',')}` } : {}),
  });
}
