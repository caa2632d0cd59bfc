import { randomUUID } from 'node:crypto';
import type { DocumentData, Firestore, Query } from '@google-cloud/firestore';
import type { JobRequest, JobState } from '../contract/index.ts';
import { isRetryable, grpcCode, type Launcher } from '../launcher/index.ts';
import { claimDocument, type ClaimInput } from '../store/job-claim-document.ts';
import { newOpCount, type OpCount } from '../store/job-ops.ts';
import { cancelledPatch, existingJob, JobRepository, type Lease } from '../store/job-repository.ts';
import type { KeyedClaim } from './dispatch.ts';
import { launchRequest } from './launch-request.ts';
import type { LaunchLimiter } from './limiter.ts';

/**
 * Per-key concurrency: at most `keyConcurrency` jobs of one `concurrencyKey` dispatching,
 * dispatched or running. Counted with a count() aggregation inside a transaction, so two
 * deliveries of one key cannot both take the last slot. Both queries need the composite index
 * (concurrencyKey ASC, state ASC, createdAt ASC) on the jobs collection.
 */
export const KEY_ACTIVE_STATES: readonly JobState[] = ['dispatching', 'dispatched', 'running'];

export interface KeyDeps {
  firestore: Firestore;
  collection: string;
  /** 0 turns per-key concurrency off. */
  keyConcurrency: number;
}

function activeCount(deps: KeyDeps, key: string) {
  return deps.firestore
    .collection(deps.collection)
    .where('concurrencyKey', '==', key)
    .where('state', 'in', [...KEY_ACTIVE_STATES])
    .count();
}

function oldestQueued(deps: KeyDeps, key: string): Query {
  return deps.firestore
    .collection(deps.collection)
    .where('concurrencyKey', '==', key)
    .where('state', '==', 'queued')
    .orderBy('createdAt')
    .limit(1);
}

/**
 * Whether the job document alone can launch the request again later: env values are never
 * stored, and a stored `args: []` cannot tell "keep the job's args" from "clear them".
 */
export function queueable(request: JobRequest): boolean {
  if (Object.keys(request.env ?? {}).length > 0) return false;
  return request.function !== undefined || (request.args?.length ?? 0) > 0;
}

/**
 * The dispatcher's `keyedClaim`: for a request with a `concurrencyKey`, creates its document in
 * one transaction with the count — `dispatching` with our lease when the key has room, `queued`
 * when it has none (or nothing, `key-busy`, when the request cannot be rebuilt from the
 * document). Undefined for a request without a key: the plain two-write claim runs.
 */
export function keyedClaimer(deps: KeyDeps) {
  return async (input: ClaimInput, ops: OpCount): Promise<KeyedClaim | undefined> => {
    const key = input.request.concurrencyKey;
    if (key === undefined || deps.keyConcurrency <= 0) return undefined;
    const ref = deps.firestore.collection(deps.collection).doc(input.docId);
    const decided = await deps.firestore.runTransaction(async (tx) => {
      ops.reads++;
      const snap = await tx.get(ref);
      if (snap.exists) return { kind: 'existing' as const, snap };
      ops.reads++;
      const running = (await tx.get(activeCount(deps, key))).data().count;
      if (running < deps.keyConcurrency) {
        ops.writes++;
        tx.create(ref, claimDocument(input));
        return { kind: 'claimed' as const };
      }
      if (!queueable(input.request)) return { kind: 'key-busy' as const, running };
      ops.writes++;
      tx.create(ref, {
        ...claimDocument(input),
        state: 'queued',
        dispatch: { leaseOwner: null, leaseExpiresAt: null, attempts: 0 },
      });
      return { kind: 'queued' as const };
    });
    if (decided.kind === 'existing')
      return { kind: 'existing', job: existingJob(input.docId, decided.snap) };
    if (decided.kind !== 'claimed') return decided;
    // The lease is fenced by our write's time; a transaction does not hand it back.
    ops.reads++;
    const after = await ref.get();
    const writeTime = after.updateTime;
    if (writeTime === undefined)
      throw new Error(`job document ${input.docId} vanished after claim`);
    return { kind: 'claimed', lease: { docId: input.docId, owner: input.owner, writeTime } };
  };
}

/** The request as the document of a queued job stores it (env values never were). */
function storedRequest(data: DocumentData): JobRequest {
  return {
    schemaVersion: 1,
    requestId: String(data.requestId),
    job: String(data.job),
    ...(typeof data.function === 'string' ? { function: data.function } : {}),
    ...(Array.isArray(data.args) && data.args.length > 0 ? { args: data.args as string[] } : {}),
    ...(typeof data.taskCount === 'number' ? { taskCount: data.taskCount } : {}),
    ...(typeof data.timeoutSeconds === 'number' ? { timeoutSeconds: data.timeoutSeconds } : {}),
    ...(typeof data.concurrencyKey === 'string' ? { concurrencyKey: data.concurrencyKey } : {}),
  };
}

export interface QueueDeps extends KeyDeps {
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
  const now = deps.now ?? (() => new Date());
  // Bounded: at most one pass over the key's free slots plus the cancelled ones met on the way.
  for (let i = 0; i < deps.keyConcurrency + 100; i++) {
    const admission = deps.limiter?.tryAcquire();
    if (admission && !admission.ok) break;
    let launched = false;
    try {
      const step = await promoteOne(deps, key, randomUUID(), now());
      if (step.kind === 'none') break;
      if (step.kind === 'cancelled') {
        done.push({ docId: step.docId, result: 'cancelled' });
        continue;
      }
      const ops = newOpCount();
      const snap = await repository.ref(step.docId).get();
      if (snap.updateTime === undefined) continue;
      const lease = { docId: step.docId, owner: step.owner, writeTime: snap.updateTime };
      // A cancel may have landed since the promotion: the last look before RunJob.
      const verdict = await repository.cancelIfRequested(lease, now(), ops);
      if (verdict !== 'go') {
        done.push({ docId: step.docId, result: verdict === 'lost' ? 'lease-lost' : 'cancelled' });
        continue;
      }
      launched = true;
      done.push(await launchPromoted(deps, repository, lease, step.data, now, ops));
    } finally {
      admission?.permit.release(launched);
    }
  }
  return done;
}

type Promotion =
  | { kind: 'none' }
  | { kind: 'cancelled'; docId: string }
  | { kind: 'promoted'; docId: string; owner: string; data: DocumentData };

async function promoteOne(
  deps: QueueDeps,
  key: string,
  owner: string,
  at: Date,
): Promise<Promotion> {
  return deps.firestore.runTransaction(async (tx): Promise<Promotion> => {
    const running = (await tx.get(activeCount(deps, key))).data().count;
    if (running >= deps.keyConcurrency) return { kind: 'none' };
    const next = (await tx.get(oldestQueued(deps, key))).docs[0];
    if (next === undefined) return { kind: 'none' };
    const data = next.data();
    if (data.cancelRequested === true) {
      tx.update(next.ref, cancelledPatch(at));
      return { kind: 'cancelled', docId: next.id };
    }
    tx.update(next.ref, {
      state: 'dispatching',
      'dispatch.leaseOwner': owner,
      'dispatch.leaseExpiresAt': new Date(at.getTime() + deps.leaseMs),
      'dispatch.attempts':
        (Number((data.dispatch as { attempts?: unknown } | undefined)?.attempts) || 0) + 1,
      updatedAt: at,
    });
    return { kind: 'promoted', docId: next.id, owner, data };
  });
}

async function launchPromoted(
  deps: QueueDeps,
  repository: JobRepository,
  lease: Lease,
  data: DocumentData,
  now: () => Date,
  ops: OpCount,
): Promise<QueuedDispatch> {
  const request = storedRequest(data);
  let launched;
  try {
    const { maxRetries } = await deps.launcher.getJob(request.job);
    const ids = { requestId: String(data.requestId), docId: lease.docId, maxRetries };
    launched = await deps.launcher.launch(launchRequest(request, ids));
  } catch (err: unknown) {
    // Only launcher errors land here: a Firestore error after RunJob must never requeue (a
    // second run); it leaves the lease to expire, and the reconciler adopts the execution.
    if (isRetryable(err)) {
      await repository.requeue(lease, now(), ops);
      return { docId: lease.docId, result: 'requeued' };
    }
    const message = err instanceof Error ? err.message : String(err);
    const code = String(grpcCode(err) ?? 'ERROR');
    await repository.recordFailed(lease, { code, message: message.slice(0, 1000) }, now(), ops);
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
 * Needs the composite index (state ASC, createdAt ASC).
 */
export async function dispatchAllQueued(
  deps: QueueDeps,
  scanLimit = 100,
): Promise<QueuedDispatch[]> {
  const queued = await deps.firestore
    .collection(deps.collection)
    .where('state', '==', 'queued')
    .orderBy('createdAt')
    .limit(scanLimit)
    .get();
  const keys = new Set<string>();
  for (const doc of queued.docs) {
    const key: unknown = doc.get('concurrencyKey');
    if (typeof key === 'string') keys.add(key);
  }
  const done: QueuedDispatch[] = [];
  for (const key of keys) done.push(...(await dispatchQueued(deps, key)));
  return done;
}
