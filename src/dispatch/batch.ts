import { randomUUID } from 'node:crypto';
import {
  BRIDGE_EXECUTION_ENV,
  MAX_BATCH_CONTENT_BYTES,
  MAX_BATCH_TASKS,
  type JobRequest,
} from '../contract/index.ts';
import { errorInfo, hasGrpcCode, isRetryable, status } from '../errors/index.ts';
import type { Launcher } from '../launcher/index.ts';
import type { Logger } from '../log.ts';
import { MAX_BATCH_MEMBERS, memberBytes } from '../store/batch-store.ts';
import type { OpCount } from '../store/job-ops.ts';
import type {
  AbandonedBatch,
  BatchCandidate,
  BatchLease,
  JobBatchStore,
  QueueEntry,
} from '../store/port.ts';
import { exhaustedReason, type RunBudget } from './budget.ts';
import { batchLaunchRequest, type MaxRetriesCache } from './launch-request.ts';

/** A queued request whose stored request passed its checks, and the member it would be. */
export interface Candidate extends BatchCandidate {
  request: JobRequest;
}

/** The caps on one batch. */
export interface BatchCaps {
  /** JOBBRIDGE_BATCH_MAX_REQUESTS, never above `MAX_BATCH_MEMBERS`. */
  maxRequests: number;
  maxTasks: number;
  maxMemberBytes: number;
}

export function batchCaps(maxRequests: number): BatchCaps {
  return {
    maxRequests: Math.min(maxRequests, MAX_BATCH_MEMBERS),
    maxTasks: MAX_BATCH_TASKS,
    maxMemberBytes: MAX_BATCH_CONTENT_BYTES - 1024,
  };
}

/** Requests that may share an execution: one job, function mode, one timeout. */
function compatibility(request: JobRequest): string {
  return JSON.stringify([request.job, request.timeoutSeconds ?? null]);
}

/**
 * Compatible candidates grouped into batches, each within the caps, in the order given (oldest
 * first): a group is cut where the next member would pass a cap. Groups of one are left out,
 * since one request starts as it always did.
 */
export function coalesce(candidates: readonly Candidate[], caps: BatchCaps): Candidate[][] {
  const open = new Map<string, { members: Candidate[]; tasks: number; bytes: number }>();
  const out: Candidate[][] = [];
  for (const c of candidates) {
    const key = compatibility(c.request);
    const bytes = memberBytes(c.member);
    let group = open.get(key);
    if (
      group !== undefined &&
      (group.members.length >= caps.maxRequests ||
        group.tasks + c.member.taskCount > caps.maxTasks ||
        group.bytes + bytes > caps.maxMemberBytes)
    ) {
      out.push(group.members);
      group = undefined;
    }
    if (group === undefined) {
      group = { members: [], tasks: 0, bytes: 0 };
      open.set(key, group);
    }
    group.members.push(c);
    group.tasks += c.member.taskCount;
    group.bytes += bytes;
  }
  out.push(...[...open.values()].map((g) => g.members));
  return out.filter((g) => g.length > 1);
}

/** The member a validated function-mode request becomes (offset assigned by the claim). */
export function memberOf(entry: QueueEntry, request: JobRequest, jobTaskCount: number) {
  return {
    requestId: entry.requestId,
    documentId: entry.docId,
    taskCount: request.taskCount ?? jobTaskCount,
    function: request.function ?? '',
    args: request.args ?? [],
    env: request.env ?? {},
  };
}

export interface BatchDeps {
  batches: JobBatchStore;
  launcher: Launcher;
  budget: RunBudget;
  maxRetries: MaxRetriesCache;
  leaseMs: number;
  retentionMs: number;
  now: () => Date;
  log?: Logger;
}

/** What starting (or taking over) one batch did, counted per member. */
export type BatchOutcome =
  | { kind: 'started'; members: number; executionName: string }
  | { kind: 'adopted'; members: number; executionName: string }
  | { kind: 'requeued'; members: number; docIds: string[] }
  | { kind: 'released'; members: number }
  | { kind: 'failed'; members: number }
  | { kind: 'raced'; members: number }
  | { kind: 'no-ticket' };

/**
 * Claims `group` as one batch and starts it when the budget has room now (never waiting: the
 * drain waits for room before it reads the page the group came from, so that arrivals join it):
 * one RunJob (one ticket) for all its members, then
 * the execution recorded on the batch and each member while the batch's lease is ours.
 * RESOURCE_EXHAUSTED gives the members back to the queue (nothing started); another retryable
 * error lets the lease expire, so the next drain looks for the execution before anything else
 * (it may have started); a permanent one fails the members. Firestore errors are thrown: after
 * RunJob nothing may put the members back, and the expired lease leads the next drain to adopt.
 */
export async function startBatch(
  deps: BatchDeps,
  group: readonly Candidate[],
  ops: OpCount,
): Promise<BatchOutcome> {
  const first = group[0];
  if (first === undefined) return { kind: 'raced', members: 0 };
  const { job, timeoutSeconds } = first.request;
  const ticket = deps.budget.tryTake();
  if (!ticket.ok) return { kind: 'no-ticket' };
  let maxRetries: number;
  let lease;
  try {
    maxRetries = await deps.maxRetries.get(job);
    lease = await deps.batches.claimBatch(
      {
        batchId: randomUUID(),
        owner: randomUUID(),
        job,
        timeoutSeconds,
        candidates: group.map(({ entry, member }) => ({ entry, member })),
        now: deps.now(),
        leaseMs: deps.leaseMs,
        retentionMs: deps.retentionMs,
      },
      ops,
    );
  } catch (err: unknown) {
    ticket.unused();
    throw err;
  }
  if (lease === undefined) {
    ticket.unused();
    return { kind: 'raced', members: group.length };
  }
  const members = lease.memberDocIds.length;
  let launched;
  try {
    launched = await deps.launcher.launch(
      batchLaunchRequest({ ...lease, timeoutSeconds, maxRetries }),
    );
  } catch (err: unknown) {
    const secrets = lease.content.members.flatMap((m) => Object.values(m.env));
    const error = errorInfo(err, secrets);
    const now = deps.now();
    if (hasGrpcCode(err, status.RESOURCE_EXHAUSTED)) {
      const reason = exhaustedReason(err);
      ticket.exhausted(reason);
      const held = await deps.batches.dissolveBatch(lease, reason, now, ops);
      return held
        ? { kind: 'requeued', members, docIds: lease.memberDocIds }
        : { kind: 'raced', members };
    }
    ticket.failed();
    if (isRetryable(err, 'cloud-run')) {
      deps.log?.warn({ err: error, batchId: lease.batchId }, 'batch: launch may have started');
      await deps.batches.releaseBatch(lease, now, ops);
      return { kind: 'released', members };
    }
    const held = await deps.batches.failBatch(lease, error, now, ops);
    return held ? { kind: 'failed', members } : { kind: 'raced', members };
  }
  ticket.launched();
  const record = { ...launched, adopted: false };
  const held = await deps.batches.recordBatch(lease, record, deps.now(), ops);
  return held
    ? { kind: 'started', members, executionName: launched.executionName }
    : { kind: 'raced', members };
}

/**
 * A batch whose drainer died (after its claim, after RunJob, or before recording), or handed it
 * back after an ambiguous launch error: takes its lease over, then adopts the execution that
 * carries its `JOBBRIDGE_BATCH_ID`, or — when none was started — dissolves it, so its members go
 * back to the queue and start once, through the same checks as any queued request. No RunJob.
 */
export async function takeOverBatch(
  deps: BatchDeps,
  abandoned: AbandonedBatch,
  ops: OpCount,
): Promise<BatchOutcome> {
  const lease = await deps.batches.takeOverBatch(
    abandoned,
    randomUUID(),
    deps.now(),
    deps.leaseMs,
    ops,
  );
  if (lease === undefined) return { kind: 'raced', members: 0 };
  return adoptOrDissolve(deps, lease, ops);
}

async function adoptOrDissolve(
  deps: BatchDeps,
  lease: BatchLease,
  ops: OpCount,
): Promise<BatchOutcome> {
  const members = lease.memberDocIds.length;
  let found;
  try {
    found = (
      await deps.launcher.findExecutionsByEnv(
        lease.job,
        BRIDGE_EXECUTION_ENV.batchId,
        lease.batchId,
      )
    )[0];
  } catch (err: unknown) {
    // Unknown whether it started: leave it to the next drain, which looks again.
    await deps.batches.releaseBatch(lease, deps.now(), ops);
    throw err;
  }
  if (found !== undefined) {
    const record = { operationName: null, executionName: found.name, adopted: true };
    const held = await deps.batches.recordBatch(lease, record, deps.now(), ops);
    return held
      ? { kind: 'adopted', members, executionName: found.name }
      : { kind: 'raced', members };
  }
  const held = await deps.batches.dissolveBatch(lease, 'runjob-rate', deps.now(), ops);
  return held ? { kind: 'requeued', members, docIds: [] } : { kind: 'raced', members };
}
