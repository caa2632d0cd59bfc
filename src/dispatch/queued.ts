import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { errorInfo, isRetryable } from '../errors/index.ts';
import type { Launcher } from '../launcher/index.ts';
import { newOpCount, type OpCount } from '../store/job-ops.ts';
import { JobQueue } from '../store/job-queue.ts';
import { JobRepository, type Lease } from '../store/job-repository.ts';
import type { JobRequest } from '../contract/index.ts';
import { launchRequest } from './launch-request.ts';
import type { LaunchLimiter } from './limiter.ts';

export interface QueueDeps {
  firestore: Firestore;
  collection: string;
  /** 0 turns per-key concurrency off. */
  keyConcurrency: number;
  launcher: Launcher;
  leaseMs: number;
  /** The instance's limiter, when called from a bridge; a full limiter leaves jobs queued. */
  limiter?: LaunchLimiter;
  now?: () => Date;
}

/** What `dispatchQueued` did to one queued job. */
export interface QueuedDispatch {
  docId: string;
  result: 'dispatched' | 'cancelled' | 'failed' | 'requeued' | 'lease-lost';
  executionName?: string;
}

/**
 * Dispatches the oldest `queued` jobs of `key` while the key has room: each one is moved to
 * `dispatching` with a lease in a transaction that re-counts the key, launched, and recorded
 * `dispatched`. A queued job with `cancelRequested` ends `cancelled` without a launch. A
 * retryable launch error puts the job back in the queue. Safe to call from several places at
 * once (the transaction decides); call it when a job of `key` has ended, e.g. from each
 * reconciler pass. Returns what it did, oldest first.
 */
export async function dispatchQueued(deps: QueueDeps, key: string): Promise<QueuedDispatch[]> {
  const done: QueuedDispatch[] = [];
  const repository = new JobRepository(deps.firestore, deps.collection);
  const queue = new JobQueue(deps.firestore, deps.collection);
  const now = deps.now ?? (() => new Date());
  // Bounded: at most one pass over the key's free slots plus the cancelled ones met on the way.
  for (let i = 0; i < deps.keyConcurrency + 100; i++) {
    const admission = deps.limiter?.tryAcquire();
    if (admission && !admission.ok) break;
    let launched = false;
    try {
      const step = await queue.promote(key, deps.keyConcurrency, randomUUID(), now(), deps.leaseMs);
      if (step.kind === 'none') break;
      if (step.kind === 'vanished') continue;
      if (step.kind === 'cancelled') {
        done.push({ docId: step.docId, result: 'cancelled' });
        continue;
      }
      const ops = newOpCount();
      const { lease } = step;
      // A cancel may have landed since the promotion: the last look before RunJob.
      const verdict = await repository.cancelIfRequested(lease, now(), ops);
      if (verdict !== 'go') {
        done.push({ docId: lease.docId, result: verdict === 'lost' ? 'lease-lost' : 'cancelled' });
        continue;
      }
      launched = true;
      done.push(
        await launchPromoted(deps, repository, lease, step.requestId, step.request, now, ops),
      );
    } finally {
      admission?.permit.release(launched);
    }
  }
  return done;
}

async function launchPromoted(
  deps: QueueDeps,
  repository: JobRepository,
  lease: Lease,
  requestId: string,
  request: JobRequest,
  now: () => Date,
  ops: OpCount,
): Promise<QueuedDispatch> {
  let launched;
  try {
    const { maxRetries } = await deps.launcher.getJob(request.job);
    const ids = { requestId, docId: lease.docId, maxRetries };
    launched = await deps.launcher.launch(launchRequest(request, ids));
  } catch (err: unknown) {
    // Only launcher errors land here: a Firestore error after RunJob must never requeue (a
    // second run); it leaves the lease to expire, and the reconciler adopts the execution.
    if (isRetryable(err, 'cloud-run')) {
      await repository.requeue(lease, now(), ops);
      return { docId: lease.docId, result: 'requeued' };
    }
    await repository.recordFailed(lease, errorInfo(err), now(), ops);
    return { docId: lease.docId, result: 'failed' };
  }
  const record = { ...launched, adopted: false };
  const held = await repository.recordDispatched(lease, record, now(), ops);
  return {
    docId: lease.docId,
    result: held ? 'dispatched' : 'lease-lost',
    executionName: launched.executionName,
  };
}

/**
 * Runs `dispatchQueued` for every key among the `scanLimit` oldest `queued` jobs: what a
 * reconciler pass calls once, after it has ended jobs (an ended job frees its key's slot).
 */
export async function dispatchAllQueued(
  deps: QueueDeps,
  scanLimit = 100,
): Promise<QueuedDispatch[]> {
  const keys = await new JobQueue(deps.firestore, deps.collection).queuedKeys(scanLimit);
  const done: QueuedDispatch[] = [];
  for (const key of keys) done.push(...(await dispatchQueued(deps, key)));
  return done;
}
