import type { DocumentSnapshot, Timestamp } from '@google-cloud/firestore';
import { ACTIVE_JOB_STATES, type QueueReason } from '../contract/index.ts';
import { isNotFound, isPreconditionFailure } from '../errors/index.ts';
import {
  claimDocument,
  leaseTaken,
  queuedDocument,
  type ClaimInput,
} from './job-claim-document.ts';
import { JobCollection } from './job-collection.ts';
import type { OpCount } from './job-ops.ts';
import {
  cancelledPatch,
  createOrRead,
  existingJob,
  type ClaimResult,
  type ExistingJob,
  type Lease,
} from './job-repository.ts';

import type { JobQueueStore, QueueDepth, QueueEntry } from './port.ts';

export type { QueueDepth, QueueEntry };

function dateOf(value: unknown): Date | null {
  return value && typeof (value as Timestamp).toDate === 'function'
    ? (value as Timestamp).toDate()
    : null;
}

function entryOf(snap: DocumentSnapshot): QueueEntry {
  const data = snap.data() ?? {};
  const queue = (data.queue ?? {}) as Record<string, unknown>;
  const dispatch = (data.dispatch ?? {}) as Record<string, unknown>;
  return {
    docId: snap.id,
    requestId: typeof data.requestId === 'string' ? data.requestId : snap.id,
    job: typeof data.job === 'string' ? data.job : '',
    state: data.state === 'queued' ? 'queued' : 'dispatching',
    updateTime: snap.updateTime as Timestamp,
    queuedAt: dateOf(queue.queuedAt),
    reason: typeof queue.reason === 'string' ? (queue.reason as QueueReason) : null,
    checkStarted: queue.checkStarted === true,
    cancelRequested: data.cancelRequested === true,
    concurrencyKey: typeof data.concurrencyKey === 'string' ? data.concurrencyKey : null,
    pendingRequest: typeof data.pendingRequest === 'string' ? data.pendingRequest : undefined,
    digest: typeof data.digest === 'string' ? data.digest : null,
    attempts: Number(dispatch.attempts) || 0,
    batchId: typeof dispatch.batchId === 'string' ? dispatch.batchId : null,
  };
}

/**
 * The queue half of the job store: Firestore is the queue once a request is admitted (DESIGN.md,
 * "Admission and dispatch"). Every move out of `queued` is a write preconditioned on the update
 * time the entry was read with (or a transaction, for keyed requests), so any number of
 * dispatchers on any number of instances start each entry at most once; a lost race is
 * `undefined`, never an error. Costs are per call and counted into `ops`.
 *
 * Indexes on Google: (state ASC, queue.queuedAt ASC) for `oldest`, (state ASC,
 * dispatch.leaseExpiresAt ASC) for `abandoned`, and for keyed requests (concurrencyKey ASC,
 * state ASC).
 */
export class JobQueue extends JobCollection implements JobQueueStore {
  /**
   * Admits a request that may not start now: one `create()` of its `queued` document (1 write,
   * 0 reads), or, when the request id exists already, a read of that document (1 read).
   */
  async admitQueued(
    input: ClaimInput,
    reason: QueueReason,
    ops: OpCount,
  ): Promise<{ kind: 'queued' } | { kind: 'existing'; job: ExistingJob }> {
    const doc = queuedDocument(input, reason);
    const made = await createOrRead(this.ref(input.docId), doc, ops, 'admission');
    return made.kind === 'created' ? { kind: 'queued' } : made;
  }

  /**
   * Admission of a keyed request: in one transaction with the count of its key's slots in use,
   * creates its document `dispatching` with our lease when the key has room, `queued` (reason
   * `concurrency-key`) when it has none; two admissions of one key never both take its last slot.
   * 2 reads and 1 write, and 1 read for the lease's fence when claimed.
   */
  async claimKeyed(
    input: ClaimInput,
    keyConcurrency: number,
    ops: OpCount,
  ): Promise<ClaimResult | { kind: 'queued' }> {
    const ref = this.ref(input.docId);
    const key = input.request.concurrencyKey ?? '';
    const decided = await this.firestore.runTransaction(async (tx) => {
      ops.reads++;
      const snap = await tx.get(ref);
      if (snap.exists) return { kind: 'existing' as const, snap };
      ops.reads++;
      const inUse = (await tx.get(this.keySlots(key))).data().count;
      ops.writes++;
      if (inUse < keyConcurrency) {
        tx.create(ref, claimDocument(input));
        return { kind: 'claimed' as const };
      }
      tx.create(ref, queuedDocument(input, 'concurrency-key'));
      return { kind: 'queued' as const };
    });
    if (decided.kind === 'existing')
      return { kind: 'existing', job: existingJob(input.docId, decided.snap) };
    if (decided.kind === 'queued') return decided;
    ops.reads++;
    const after = await ref.get();
    if (after.updateTime === undefined)
      throw new Error(`job document ${input.docId} vanished after claim`);
    return {
      kind: 'claimed',
      lease: { docId: input.docId, owner: input.owner, writeTime: after.updateTime },
    };
  }

  /** The `limit` oldest queued entries, oldest first (1 query, `limit` reads at most). */
  async oldest(limit: number): Promise<QueueEntry[]> {
    const snap = await this.firestore
      .collection(this.collection)
      .where('state', '==', 'queued')
      .orderBy('queue.queuedAt')
      .limit(limit)
      .get();
    return snap.docs.map(entryOf);
  }

  /**
   * `dispatching` entries whose lease expired before `before`: their holder died (a bridge
   * killed after admission). Oldest expiry first.
   */
  async abandoned(before: Date, limit: number): Promise<QueueEntry[]> {
    const snap = await this.firestore
      .collection(this.collection)
      .where('state', '==', 'dispatching')
      .where('dispatch.leaseExpiresAt', '<', before)
      .orderBy('dispatch.leaseExpiresAt')
      .limit(limit)
      .get();
    return snap.docs.map(entryOf);
  }

  /**
   * Moves an entry to `dispatching` with a lease for `owner`, only if nobody wrote it since it
   * was read (1 write). Undefined when another dispatcher, a cancel or a redelivery came first.
   */
  async lease(
    entry: QueueEntry,
    owner: string,
    now: Date,
    leaseMs: number,
    ops: OpCount,
  ): Promise<Lease | undefined> {
    try {
      ops.writes++;
      const result = await this.ref(entry.docId).update(
        leaseTaken(owner, new Date(now.getTime() + leaseMs), entry.attempts + 1, now),
        { lastUpdateTime: entry.updateTime },
      );
      return { docId: entry.docId, owner, writeTime: result.writeTime };
    } catch (err: unknown) {
      if (isPreconditionFailure(err) || isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * `lease` for a keyed entry: in one transaction with the count of its key's slots in use, so
   * two dispatchers cannot both take the last slot (2 reads and 1 write, then 1 read for the
   * lease's fence). `key-busy` when the key has no room.
   */
  async leaseKeyed(
    entry: QueueEntry,
    owner: string,
    now: Date,
    leaseMs: number,
    keyConcurrency: number,
    ops: OpCount,
  ): Promise<Lease | 'key-busy' | undefined> {
    const ref = this.ref(entry.docId);
    const key = entry.concurrencyKey ?? '';
    const taken = await this.firestore.runTransaction(async (tx) => {
      ops.reads += 2;
      const snap = await tx.get(ref);
      if (!snap.exists || snap.updateTime?.isEqual(entry.updateTime) !== true) return 'raced';
      const inUse = (await tx.get(this.keySlots(key))).data().count;
      if (inUse >= keyConcurrency) return 'key-busy';
      ops.writes++;
      tx.update(ref, leaseTaken(owner, new Date(now.getTime() + leaseMs), entry.attempts + 1, now));
      return 'leased';
    });
    if (taken === 'raced') return undefined;
    if (taken === 'key-busy') return 'key-busy';
    // A transaction does not hand back its write time, and the lease is fenced by it.
    ops.reads++;
    const after = await ref.get();
    if (after.updateTime === undefined || after.get('dispatch.leaseOwner') !== owner)
      return undefined;
    return { docId: entry.docId, owner, writeTime: after.updateTime };
  }

  /** How many jobs of `key` hold a slot now (1 aggregation read). */
  async keySlotsInUse(key: string): Promise<number> {
    return (await this.keySlots(key).get()).data().count;
  }

  private keySlots(key: string) {
    return this.firestore
      .collection(this.collection)
      .where('concurrencyKey', '==', key)
      .where('state', 'in', [...ACTIVE_JOB_STATES])
      .count();
  }

  /** Ends a queued entry whose cancel was asked for, if nobody wrote it since (1 write). */
  async cancel(entry: QueueEntry, now: Date, ops: OpCount): Promise<boolean> {
    try {
      ops.writes++;
      await this.ref(entry.docId).update(cancelledPatch(now), { lastUpdateTime: entry.updateTime });
      return true;
    } catch (err: unknown) {
      if (isPreconditionFailure(err) || isNotFound(err)) return false;
      throw err;
    }
  }

  /** Ends an entry whose stored request no longer passes validation (1 write, fenced). */
  async fail(
    entry: QueueEntry,
    error: { code: string; message: string },
    now: Date,
    ops: OpCount,
  ): Promise<boolean> {
    const { error: _cancelled, ...patch } = cancelledPatch(now);
    try {
      ops.writes++;
      await this.ref(entry.docId).update(
        { ...patch, state: 'failed', error },
        { lastUpdateTime: entry.updateTime },
      );
      return true;
    } catch (err: unknown) {
      if (isPreconditionFailure(err) || isNotFound(err)) return false;
      throw err;
    }
  }

  /** The queue's depth and its oldest entry's time (1 aggregation read and 1 read). */
  async depth(): Promise<QueueDepth> {
    const queued = this.firestore.collection(this.collection).where('state', '==', 'queued');
    const [count, oldest] = await Promise.all([
      queued.count().get(),
      queued.orderBy('queue.queuedAt').limit(1).get(),
    ]);
    const first = oldest.docs[0];
    return {
      depth: count.data().count,
      oldestQueuedAt: first ? dateOf(first.get('queue.queuedAt')) : null,
    };
  }
}
