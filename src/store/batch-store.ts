import {
  FieldValue,
  type DocumentData,
  type DocumentReference,
  type DocumentSnapshot,
  type Firestore,
  type Timestamp,
  type Transaction,
  type UpdateData,
} from '@google-cloud/firestore';
import {
  BATCH_COLLECTION,
  batchDigest,
  type BatchContent,
  type BatchMember,
  type ErrorInfo,
  type QueueReason,
} from '../contract/index.ts';
import { isNotFound, isPreconditionFailure } from '../errors/index.ts';
import { LEASE_CLEARED, leaseTaken } from './job-claim-document.ts';
import type { OpCount } from './job-ops.ts';
import { dispatchedPatch, launchFailedPatch, type DispatchRecord } from './job-repository.ts';
import type {
  AbandonedBatch,
  BatchClaimInput,
  BatchLease,
  ClaimedBatch,
  JobBatchStore,
  StoredBatch,
} from './port.ts';

/**
 * Members one batch may hold: its claim writes the batch document and every member's job
 * document in one transaction, and Firestore takes at most 500 writes in one.
 */
export const MAX_BATCH_MEMBERS = 499;

/**
 * The bytes a member adds to the batch's content (`batchContentBytes`), a little over: the
 * drainer stops adding members before MAX_BATCH_CONTENT_BYTES.
 */
export function memberBytes(member: Omit<BatchMember, 'offset'>): number {
  return Buffer.byteLength(JSON.stringify(member), 'utf8') + 64;
}

/** The batch content and its execution, as `batches/{batchId}` holds it. */
function storedBatch(snap: DocumentSnapshot): StoredBatch | undefined {
  const data = snap.data();
  if (!data) return undefined;
  const lease = (data.lease ?? null) as { owner?: unknown; expiresAt?: Timestamp } | null;
  return {
    batchId: snap.id,
    data,
    state: data.state === 'dispatched' ? 'dispatched' : 'dispatching',
    job: typeof data.job === 'string' ? data.job : '',
    digest: typeof data.digest === 'string' ? data.digest : null,
    leaseOwner: typeof lease?.owner === 'string' ? lease.owner : null,
    leaseExpiresAt: lease?.expiresAt?.toDate?.() ?? null,
    executionName: typeof data.executionName === 'string' ? data.executionName : null,
    memberDocIds: Array.isArray(data.members)
      ? (data.members as { documentId?: unknown }[])
          .map((m) => m.documentId)
          .filter((id): id is string => typeof id === 'string')
      : [],
    updateTime: snap.updateTime as Timestamp,
  };
}

/**
 * The batch side of the dispatch protocol (DESIGN.md, "Admission and dispatch", step 5): the
 * batch document `batches/{batchId}` and its members' job documents move together, each move one
 * atomic commit, so a batch is claimed, recorded, handed back and taken over as one unit. As the
 * single request's protocol does (job-queue.ts, job-repository.ts), a claim and the move after it
 * are first one batched write with every write preconditioned on the update time the drainer
 * last saw (the queue page's for the claim, the claim's commit time after it): no read. Only when
 * someone wrote in between does the move become a transaction that re-reads the batch's lease
 * and every member and decides from them.
 */
export class BatchStore implements JobBatchStore {
  private readonly firestore: Firestore;
  private readonly jobs: string;
  private readonly batches: string;

  constructor(firestore: Firestore, jobsCollection: string, batchCollection = BATCH_COLLECTION) {
    this.firestore = firestore;
    this.jobs = jobsCollection;
    this.batches = batchCollection;
  }

  private jobRef(docId: string): DocumentReference {
    return this.firestore.collection(this.jobs).doc(docId);
  }

  private batchRef(batchId: string): DocumentReference {
    return this.firestore.collection(this.batches).doc(batchId);
  }

  async claimBatch(input: BatchClaimInput, ops: OpCount): Promise<ClaimedBatch | undefined> {
    if (input.candidates.length > MAX_BATCH_MEMBERS)
      throw new RangeError(`a batch holds at most ${MAX_BATCH_MEMBERS} members`);
    // Every candidate as read, in one batched write fenced on each entry's update time: no read.
    const all = this.claimWrites(input, input.candidates);
    const batch = this.firestore.batch();
    batch.create(this.batchRef(input.batchId), all.batchDoc);
    for (const w of all.memberWrites)
      batch.update(w.ref, w.patch, { lastUpdateTime: w.entry.updateTime });
    ops.writes += all.memberWrites.length + 1;
    try {
      const [created] = await batch.commit();
      return { ...all.claimed, ...(created ? { writeTime: created.writeTime } : {}) };
    } catch (err: unknown) {
      // A cancel, another drainer or a redelivery wrote a candidate since the drain read it.
      if (!isPreconditionFailure(err) && !isNotFound(err)) throw err;
    }
    return this.firestore.runTransaction(async (tx) => {
      const snaps = await tx.getAll(...input.candidates.map((c) => this.jobRef(c.entry.docId)));
      ops.reads += snaps.length;
      // Fenced on the update time each entry was read at: a cancel, another drainer or a
      // redelivery that wrote since keeps its entry out of this batch.
      const kept = input.candidates.filter((c, i) => {
        const snap = snaps[i];
        return snap?.exists === true && snap.updateTime?.isEqual(c.entry.updateTime) === true;
      });
      if (kept.length === 0) return undefined;
      const some = this.claimWrites(input, kept);
      tx.create(this.batchRef(input.batchId), some.batchDoc);
      for (const w of some.memberWrites) tx.update(w.ref, w.patch);
      ops.writes += some.memberWrites.length + 1;
      return some.claimed;
    });
  }

  /** The claim of `kept`: the batch document, each member's move, and the lease it gives. */
  private claimWrites(input: BatchClaimInput, kept: BatchClaimInput['candidates']) {
    const expiresAt = new Date(input.now.getTime() + input.leaseMs);
    let offset = 0;
    const members: BatchMember[] = kept.map((c) => {
      const member = { ...c.member, offset };
      offset += c.member.taskCount;
      return member;
    });
    const content: BatchContent = {
      job: input.job,
      ...(input.timeoutSeconds !== undefined ? { timeoutSeconds: input.timeoutSeconds } : {}),
      members,
    };
    const digest = batchDigest(content);
    const batchDoc = {
      ...content,
      digest,
      taskCount: offset,
      state: 'dispatching',
      lease: { owner: input.owner, expiresAt },
      createdAt: input.now,
      updatedAt: input.now,
      expireAt: new Date(input.now.getTime() + input.retentionMs),
    };
    const memberWrites = kept.map((c, i) => ({
      entry: c.entry,
      ref: this.jobRef(c.entry.docId),
      patch: {
        ...leaseTaken(input.owner, expiresAt, c.entry.attempts + 1, input.now),
        'dispatch.batchId': input.batchId,
        'dispatch.taskOffset': members[i]?.offset ?? 0,
      },
    }));
    const claimed: ClaimedBatch = {
      batchId: input.batchId,
      owner: input.owner,
      job: input.job,
      content,
      digest,
      taskCount: offset,
      memberDocIds: kept.map((c) => c.entry.docId),
    };
    return { batchDoc, memberWrites, claimed };
  }

  recordBatch(lease: BatchLease, record: DispatchRecord, now: Date, ops: OpCount) {
    return this.whileLeased(lease, ops, {
      batch: () => ({
        state: 'dispatched',
        lease: null,
        operationName: record.operationName,
        executionName: record.executionName,
        adopted: record.adopted,
        dispatchedAt: now,
        updatedAt: now,
      }),
      member: (state) => dispatchedPatch(state, record, now),
    });
  }

  dissolveBatch(lease: BatchLease, reason: QueueReason, now: Date, ops: OpCount) {
    return this.whileLeased(lease, ops, {
      batch: 'delete',
      member: (state) =>
        state === 'dispatching'
          ? {
              state: 'queued',
              // `queue.queuedAt` stays: the member keeps its place in the queue.
              'queue.reason': reason,
              'queue.checkStarted': false,
              ...LEASE_CLEARED,
              'dispatch.batchId': FieldValue.delete(),
              'dispatch.taskOffset': FieldValue.delete(),
              updatedAt: now,
            }
          : undefined,
    });
  }

  failBatch(lease: BatchLease, error: ErrorInfo, now: Date, ops: OpCount) {
    return this.whileLeased(lease, ops, {
      batch: 'delete',
      member: (state) => (state === 'dispatching' ? launchFailedPatch(error, now) : undefined),
    });
  }

  async releaseBatch(lease: BatchLease, now: Date, ops: OpCount): Promise<void> {
    await this.firestore.runTransaction(async (tx) => {
      ops.reads++;
      const batch = storedBatch(await tx.get(this.batchRef(lease.batchId)));
      if (batch?.state !== 'dispatching' || batch.leaseOwner !== lease.owner) return;
      ops.writes++;
      tx.update(this.batchRef(lease.batchId), {
        'lease.expiresAt': now,
        updatedAt: now,
      });
    });
  }

  async abandonedBatches(before: Date, limit: number): Promise<AbandonedBatch[]> {
    const snap = await this.firestore
      .collection(this.batches)
      .where('state', '==', 'dispatching')
      .where('lease.expiresAt', '<', before)
      .orderBy('lease.expiresAt')
      .limit(limit)
      .get();
    return snap.docs.flatMap((d) => {
      const batch = storedBatch(d);
      return batch
        ? [{ batchId: batch.batchId, job: batch.job, updateTime: batch.updateTime }]
        : [];
    });
  }

  async takeOverBatch(
    abandoned: AbandonedBatch,
    owner: string,
    now: Date,
    leaseMs: number,
    ops: OpCount,
  ): Promise<BatchLease | undefined> {
    const expiresAt = new Date(now.getTime() + leaseMs);
    return this.firestore.runTransaction(async (tx) => {
      ops.reads++;
      const batch = storedBatch(await tx.get(this.batchRef(abandoned.batchId)));
      if (batch?.updateTime.isEqual(abandoned.updateTime) !== true) return undefined;
      if (batch.state !== 'dispatching') return undefined;
      const members = await this.members(tx, batch, batch.leaseOwner, ops);
      tx.update(this.batchRef(batch.batchId), {
        'lease.owner': owner,
        'lease.expiresAt': expiresAt,
        updatedAt: now,
      });
      for (const m of members)
        tx.update(m.ref, {
          'dispatch.leaseOwner': owner,
          'dispatch.leaseExpiresAt': expiresAt,
          updatedAt: now,
        });
      ops.writes += members.length + 1;
      return {
        batchId: batch.batchId,
        owner,
        job: batch.job,
        digest: batch.digest ?? '',
        taskCount: Number(batch.data.taskCount) || 0,
        memberDocIds: members.map((m) => m.ref.id),
      };
    });
  }

  async batchState(batchId: string): Promise<StoredBatch | undefined> {
    return storedBatch(await this.batchRef(batchId).get());
  }

  /** The batch's members still in it: `dispatch.batchId` is this batch, the lease `owner`'s. */
  private async members(
    tx: Transaction,
    batch: StoredBatch,
    owner: string | null,
    ops: OpCount,
  ): Promise<{ ref: DocumentReference; state: string }[]> {
    if (batch.memberDocIds.length === 0) return [];
    const snaps = await tx.getAll(...batch.memberDocIds.map((id) => this.jobRef(id)));
    ops.reads += snaps.length;
    return snaps.flatMap((snap) => {
      const dispatch = (snap.get('dispatch') ?? {}) as Record<string, unknown>;
      if (!snap.exists || dispatch.batchId !== batch.batchId) return [];
      if ((dispatch.leaseOwner ?? null) !== owner) return [];
      return [{ ref: snap.ref, state: String(snap.get('state')) }];
    });
  }

  /**
   * Applies a change to the batch document and each of its members in one atomic commit, only
   * while the batch's lease is `lease`'s; members are those still carrying this batch and lease
   * (a member ended by a cancel or the reconciler meanwhile is left alone). False when the lease
   * was lost. Cost: 0 reads and 1 + k writes when nobody wrote since the claim; otherwise
   * 1 + k reads and up to 1 + k writes more.
   */
  private async whileLeased(
    lease: BatchLease,
    ops: OpCount,
    change: {
      batch: 'delete' | (() => UpdateData<DocumentData>);
      member: (state: string) => UpdateData<DocumentData> | undefined;
    },
  ): Promise<boolean> {
    // Nobody wrote the batch or a member since our claim: each still carries the claim's commit
    // time, the batch its lease and every member its `dispatching` state and the batch's lease.
    // Then one batched write fenced on that time does the move, with no read; any write since
    // (a worker's start, a cancel, the reconciler, a takeover) fails it whole, and the
    // transaction below decides from the documents.
    const patches = lease.memberDocIds.map((id) => ({
      ref: this.jobRef(id),
      patch: change.member('dispatching'),
    }));
    if (lease.writeTime !== undefined && patches.every((p) => p.patch !== undefined)) {
      const fence = { lastUpdateTime: lease.writeTime };
      const batch = this.firestore.batch();
      const ref = this.batchRef(lease.batchId);
      if (change.batch === 'delete') batch.delete(ref, fence);
      else batch.update(ref, change.batch(), fence);
      for (const p of patches) batch.update(p.ref, p.patch as UpdateData<DocumentData>, fence);
      ops.writes += patches.length + 1;
      try {
        await batch.commit();
        return true;
      } catch (err: unknown) {
        if (!isPreconditionFailure(err) && !isNotFound(err)) throw err;
      }
    }
    return this.firestore.runTransaction(async (tx) => {
      ops.reads++;
      const ref = this.batchRef(lease.batchId);
      const batch = storedBatch(await tx.get(ref));
      if (batch?.state !== 'dispatching' || batch.leaseOwner !== lease.owner) return false;
      const members = await this.members(tx, batch, lease.owner, ops);
      if (change.batch === 'delete') tx.delete(ref);
      else tx.update(ref, change.batch());
      ops.writes++;
      for (const m of members) {
        const patch = change.member(m.state);
        if (patch === undefined) continue;
        tx.update(m.ref, patch);
        ops.writes++;
      }
      return true;
    });
  }
}
