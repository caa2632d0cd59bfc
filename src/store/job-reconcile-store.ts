import {
  FieldPath,
  Timestamp,
  type DocumentData,
  type Query,
  type UpdateData,
} from '@google-cloud/firestore';
import {
  ACTIVE_JOB_STATES,
  BATCH_COLLECTION,
  CANCELLABLE_JOB_STATES,
  type ErrorInfo,
  type JobDocument,
  type JobState,
  type TaskState,
  taskTransitionRefusal,
} from '../contract/index.ts';
import { isAlreadyExists } from '../errors/index.ts';
import { guardedUpdate } from './guarded-write.ts';
import { LEASE_CLEARED } from './job-claim-document.ts';
import { JobCollection } from './job-collection.ts';
import { jobView, millisOf, type JobView } from './job-view.ts';
import type {
  BatchMemberView,
  EndedExecution,
  JobReconcileStore,
  ReconcilePage,
  StaleHeartbeat,
  TaskEnd,
} from './port.ts';
import { taskFlags } from './task-document.ts';
import { EMPTY_PROGRESS } from './task-store.ts';
import { staleTasks, workerEvidence, type StaleTask } from './task-evidence.ts';

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

/**
 * The reconciler's reads and writes of `jobs/{id}`. Every write is a transaction that re-reads
 * the job and writes only if it is still what the reconciler decided on (`guardedUpdate`), so a
 * worker's or a bridge's newer write wins and the call answers `false` ("raced").
 */
export class JobReconciles extends JobCollection implements JobReconcileStore {
  private guarded(
    view: JobView,
    guard: { to?: JobState; sameLease?: boolean; from?: JobState },
    patch: UpdateData<DocumentData>,
  ): Promise<boolean> {
    return guardedUpdate(
      this.firestore,
      this.ref(view.docId),
      {
        state: guard.from ?? view.state,
        ...(guard.to !== undefined ? { to: guard.to } : {}),
        ...(guard.sameLease ? { holds: sameLease(view) } : {}),
      },
      patch,
    );
  }

  async page(
    cutoff: Date,
    pageSize: number,
    after: { cancel?: string; stale?: { updatedAtMs: number; docId: string } },
  ): Promise<ReconcilePage> {
    // The composite index (cancelRequested ASC, state ASC) serves this: docs/operations.md, "Indexes it needs".
    let cancelQuery: Query = this.firestore
      .collection(this.collection)
      .where('cancelRequested', '==', true)
      .where('state', 'in', [...CANCELLABLE_JOB_STATES])
      .orderBy(FieldPath.documentId());
    if (after.cancel) cancelQuery = cancelQuery.startAfter(after.cancel);
    // The composite index (state ASC, updatedAt ASC) serves this: docs/operations.md, "Indexes it needs".
    let staleQuery: Query = this.firestore
      .collection(this.collection)
      .where('state', 'in', [...ACTIVE_JOB_STATES])
      .where('updatedAt', '<', cutoff)
      .orderBy('updatedAt')
      .orderBy(FieldPath.documentId());
    if (after.stale) {
      staleQuery = staleQuery.startAfter(
        Timestamp.fromMillis(after.stale.updatedAtMs),
        after.stale.docId,
      );
    }
    const [cancels, stale] = await Promise.all([
      cancelQuery.limit(pageSize).get(),
      staleQuery.limit(pageSize).get(),
    ]);
    const views = (docs: typeof cancels.docs) =>
      docs.map((d) => jobView(d)).filter((v): v is JobView => v !== undefined);
    return {
      cancels: views(cancels.docs),
      cancelsFull: cancels.size >= pageSize,
      stale: views(stale.docs),
      staleFull: stale.size >= pageSize,
    };
  }

  async read(docId: string): Promise<JobView | undefined> {
    return jobView(await this.ref(docId).get());
  }

  async createEnded(docId: string, doc: JobDocument): Promise<boolean> {
    try {
      await this.ref(docId).create(doc);
      return true;
    } catch (err: unknown) {
      if (!isAlreadyExists(err)) throw err;
      return false;
    }
  }

  endUnlaunched(
    view: JobView,
    to: 'failed' | 'cancelled',
    error: ErrorInfo,
    now: Date,
  ): Promise<boolean> {
    return this.guarded(
      view,
      { to, sameLease: true },
      { state: to, error, ...LEASE_CLEARED, finishedAt: now, updatedAt: now },
    );
  }

  recordAdopted(view: JobView, executionName: string, now: Date): Promise<boolean> {
    return this.guarded(
      view,
      { from: 'dispatching', to: 'dispatched', sameLease: true },
      {
        state: 'dispatched',
        ...LEASE_CLEARED,
        'dispatch.executionName': executionName,
        'dispatch.adopted': true,
        dispatchedAt: now,
        updatedAt: now,
      },
    );
  }

  recordExecutionMissing(view: JobView, error: ErrorInfo, now: Date): Promise<boolean> {
    return this.guarded(
      view,
      { to: 'failed' },
      { state: 'failed', error, finishedAt: now, updatedAt: now },
    );
  }

  recordExecutionEnded(view: JobView, ended: EndedExecution, now: Date): Promise<boolean> {
    return this.guarded(
      view,
      { to: ended.state },
      {
        state: ended.state,
        error: ended.error,
        tasks: { running: 0, succeeded: ended.succeededCount, failed: ended.failedCount },
        'dispatch.executionName': ended.executionName,
        finishedAt: ended.completionTime ?? now,
        ...(view.state === 'dispatched' ? { startedAt: ended.startTime ?? null } : {}),
        updatedAt: now,
      },
    );
  }

  recordCancelSent(view: JobView, now: Date): Promise<boolean> {
    return this.guarded(view, {}, { 'dispatch.cancelSentAt': now, updatedAt: now });
  }

  recordHeartbeatCheck(
    view: JobView,
    staleHeartbeat: StaleHeartbeat | null,
    now: Date,
  ): Promise<boolean> {
    return this.guarded(view, {}, { staleHeartbeat, reconciledAt: now, updatedAt: now });
  }

  workerEvidence(docId: string): Promise<string> {
    return workerEvidence(this.ref(docId));
  }

  staleTasks(docId: string, cutoff: Date): Promise<StaleTask[]> {
    return staleTasks(this.ref(docId), cutoff);
  }

  async batchMembers(batchId: string): Promise<BatchMemberView[] | undefined> {
    const batch = await this.firestore.collection(BATCH_COLLECTION).doc(batchId).get();
    const listed = batch.get('members') as unknown;
    if (!batch.exists || !Array.isArray(listed)) return undefined;
    const members = listed.flatMap((m: Record<string, unknown>) =>
      typeof m.documentId === 'string' &&
      Number.isInteger(m.offset) &&
      Number.isInteger(m.taskCount)
        ? [{ docId: m.documentId, offset: Number(m.offset), taskCount: Number(m.taskCount) }]
        : [],
    );
    if (members.length === 0) return [];
    const snaps = await this.firestore.getAll(...members.map((m) => this.ref(m.docId)));
    return members.map((m, i) => {
      const data = snaps[i]?.data();
      return {
        ...m,
        state: data ? (data.state as JobState) : undefined,
        cancelRequested: data?.cancelRequested === true,
      };
    });
  }

  async recordTaskEnds(docId: string, ends: TaskEnd[], now: Date): Promise<number[]> {
    const written: number[] = [];
    for (const end of ends) {
      const ref = this.ref(docId).collection('tasks').doc(String(end.taskIndex));
      const wrote = await this.firestore.runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        const current = snap.exists
          ? { state: snap.get('state') as TaskState, attempt: Number(snap.get('attempt') ?? 0) }
          : undefined;
        if (current && current.state !== 'running') return false;
        if (current && current.attempt > end.attempt) return false;
        if (taskTransitionRefusal(current, { state: end.state, attempt: end.attempt }))
          return false;
        tx.set(
          ref,
          {
            taskIndex: end.taskIndex,
            state: end.state,
            attempt: Math.max(end.attempt, current?.attempt ?? 0),
            execution: end.execution,
            willRetry: end.state === 'failed' ? false : null,
            error: end.error,
            finishedAt: end.finishedAt,
            // What the worker would have written at its end; the reconciler writes it instead.
            endedBy: 'reconciler',
            updatedAt: now,
            agg: taskFlags(end.state, false),
            ...(snap.exists
              ? {}
              : { progress: EMPTY_PROGRESS, result: null, heartbeatAt: null, startedAt: null }),
          },
          { merge: true },
        );
        return true;
      });
      if (wrote) written.push(end.taskIndex);
    }
    return written;
  }
}
