import type { DocumentData, Firestore, Query } from '@google-cloud/firestore';
import { ACTIVE_JOB_STATES, type JobRequest } from '../contract/index.ts';
import { claimDocument, type ClaimInput } from './job-claim-document.ts';
import type { OpCount } from './job-ops.ts';
import { cancelledPatch, existingJob, type ClaimResult, type Lease } from './job-repository.ts';
import type { JobQueueStore, KeyedClaimResult, Promotion } from './port.ts';

/**
 * Whether the job document alone can launch the request again later: env values are never
 * stored, and a stored `args: []` cannot tell "keep the job's args" from "clear them".
 */
export function queueable(request: JobRequest): boolean {
  if (Object.keys(request.env ?? {}).length > 0) return false;
  return request.function !== undefined || (request.args?.length ?? 0) > 0;
}

/** The request as the document of a queued job stores it (env values never were). */
export function storedRequest(data: DocumentData): JobRequest {
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

/**
 * The queue side of `jobs/{id}`: per-key concurrency and the `queued` jobs waiting for a slot.
 * The key queries need the composite index (concurrencyKey ASC, state ASC, createdAt ASC), the
 * scan of queued keys (state ASC, createdAt ASC).
 */
export class JobQueue implements JobQueueStore {
  private readonly firestore: Firestore;
  private readonly collection: string;

  constructor(firestore: Firestore, collection: string) {
    this.firestore = firestore;
    this.collection = collection;
  }

  private activeCount(key: string) {
    return this.firestore
      .collection(this.collection)
      .where('concurrencyKey', '==', key)
      .where('state', 'in', [...ACTIVE_JOB_STATES])
      .count();
  }

  private oldestQueued(key: string): Query {
    return this.firestore
      .collection(this.collection)
      .where('concurrencyKey', '==', key)
      .where('state', '==', 'queued')
      .orderBy('createdAt')
      .limit(1);
  }

  async claimKeyed(
    input: ClaimInput,
    keyConcurrency: number,
    ops: OpCount,
  ): Promise<KeyedClaimResult> {
    const key = input.request.concurrencyKey ?? '';
    const ref = this.firestore.collection(this.collection).doc(input.docId);
    const decided = await this.firestore.runTransaction(async (tx) => {
      ops.reads++;
      const snap = await tx.get(ref);
      if (snap.exists) return { kind: 'existing' as const, snap };
      ops.reads++;
      const running = (await tx.get(this.activeCount(key))).data().count;
      if (running < keyConcurrency) {
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
    const claimed: ClaimResult = {
      kind: 'claimed',
      lease: { docId: input.docId, owner: input.owner, writeTime },
    };
    return claimed;
  }

  async promote(
    key: string,
    keyConcurrency: number,
    owner: string,
    at: Date,
    leaseMs: number,
  ): Promise<Promotion> {
    const step = await this.firestore.runTransaction(async (tx) => {
      const running = (await tx.get(this.activeCount(key))).data().count;
      if (running >= keyConcurrency) return { kind: 'none' as const };
      const next = (await tx.get(this.oldestQueued(key))).docs[0];
      if (next === undefined) return { kind: 'none' as const };
      const data = next.data();
      if (data.cancelRequested === true) {
        tx.update(next.ref, cancelledPatch(at));
        return { kind: 'cancelled' as const, docId: next.id };
      }
      tx.update(next.ref, {
        state: 'dispatching',
        'dispatch.leaseOwner': owner,
        'dispatch.leaseExpiresAt': new Date(at.getTime() + leaseMs),
        'dispatch.attempts':
          (Number((data.dispatch as { attempts?: unknown } | undefined)?.attempts) || 0) + 1,
        updatedAt: at,
      });
      return { kind: 'promoted' as const, docId: next.id, data };
    });
    if (step.kind !== 'promoted') return step;
    const snap = await this.firestore.collection(this.collection).doc(step.docId).get();
    if (snap.updateTime === undefined) return { kind: 'vanished', docId: step.docId };
    const lease: Lease = { docId: step.docId, owner, writeTime: snap.updateTime };
    return {
      kind: 'promoted',
      lease,
      requestId: String(step.data.requestId),
      request: storedRequest(step.data),
    };
  }

  async queuedKeys(scanLimit: number): Promise<string[]> {
    const queued = await this.firestore
      .collection(this.collection)
      .where('state', '==', 'queued')
      .orderBy('createdAt')
      .limit(scanLimit)
      .get();
    const keys = new Set<string>();
    for (const doc of queued.docs) {
      const key: unknown = doc.get('concurrencyKey');
      if (typeof key === 'string') keys.add(key);
    }
    return [...keys];
  }
}
