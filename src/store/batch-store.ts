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
 * batch document `batches/{batchId}` and its members' job documents move together, each move in
 * one transaction that re-reads the batch's lease and every member, so a batch is claimed,
 * recorded, handed back and taken over as one unit.
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
    const expiresAt = new Date(input.now.getTime() + input.leaseMs);
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
      tx.create(this.batchRef(input.batchId), {
        ...content,
        digest,
        taskCount: offset,
        state: 'dispatching',
        lease: { owner: input.owner, expiresAt },
        createdAt: input.now,
        updatedAt: input.now,
        expireAt: new Date(input.now.getTime() + input.retentionMs),
      });
      for (const [i, c] of kept.entries()) {
        tx.update(this.jobRef(c.entry.docId), {
          ...leaseTaken(input.owner, expiresAt, c.entry.attempts + 1, input.now),
          'dispatch.batchId': input.batchId,
          'dispatch.taskOffset': members[i]?.offset ?? 0,
        });
      }
      ops.writes += kept.length + 1;
      return {
        batchId: input.batchId,
        owner: input.owner,
        job: input.job,
        content,
        digest,
        taskCount: offset,
        memberDocIds: kept.map((c) => c.entry.docId),
      };
    });
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
   * Applies a change to the batch document and each of its members in one transaction, only
   * while the batch's lease is `lease`'s; members are those still carrying this batch and lease
   * (a member ended by a cancel or the reconciler meanwhile is left alone). False when the lease
   * was lost. Cost: 1 + k reads, up to 1 + k writes.
   */
  private whileLeased(
    lease: BatchLease,
    ops: OpCount,
    change: {
      batch: 'delete' | (() => UpdateData<DocumentData>);
      member: (state: string) => UpdateData<DocumentData> | undefined;
    },
  ): Promise<boolean> {
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
