import {
  FieldValue,
  type DocumentReference,
  type Firestore,
  type Timestamp,
} from '@google-cloud/firestore';
import {
  canTransitionJob,
  taskTransitionRefusal,
  type JobDocument,
  type TaskDocument,
  type TaskProgress,
} from '../contract/index.ts';
import { isPreconditionFailure } from '../worker/errors.ts';
import { jobRef, taskFlags, taskRef, type TaskOutcome } from './task-document.ts';

/** What `beginAttempt` found. */
export type BeginResult =
  | { kind: 'started'; job: JobDocument | undefined; writer: TaskWriter }
  | { kind: 'already-succeeded'; attempt: number }
  | { kind: 'fenced'; reason: string };

/** A newer attempt (or a finished task) owns the document: this attempt must stop writing. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
}

const EMPTY_PROGRESS: TaskProgress = { done: 0, total: 0, ratio: 0, message: null };

/**
 * Marks the task `running` for `attempt`, never requiring a prior `pending` (the seed's retry
 * bug): a missing document is created, a `failed` or `running` one of an older or the same
 * attempt is taken over, a `succeeded` one is left alone, a newer attempt's is refused. One
 * batched read of the task and job documents, then a write fenced by the read's update time.
 */
export async function beginAttempt(
  db: Firestore,
  where: { collection: string; jobId: string; taskIndex: number },
  attempt: number,
  execution: string,
): Promise<BeginResult> {
  const task = taskRef(db, where.collection, where.jobId, where.taskIndex);
  const job = jobRef(db, where.collection, where.jobId);
  for (let tries = 0; ; tries++) {
    const [taskSnap, jobSnap] = await db.getAll(task, job);
    const current = taskSnap?.data() as TaskDocument | undefined;
    const jobDoc = jobSnap?.data() as JobDocument | undefined;
    if (current?.state === 'succeeded')
      return { kind: 'already-succeeded', attempt: current.attempt };
    const refusal = taskTransitionRefusal(current, { state: 'running', attempt });
    if (refusal) return { kind: 'fenced', reason: refusal };
    const now = FieldValue.serverTimestamp();
    const fields = {
      taskIndex: where.taskIndex,
      state: 'running',
      attempt,
      execution,
      willRetry: null,
      progress: EMPTY_PROGRESS,
      result: null,
      error: null,
      heartbeatAt: now,
      startedAt: now,
      finishedAt: null,
      agg: taskFlags('running'),
    };
    try {
      const written =
        taskSnap?.exists === true
          ? await task.update(fields, { lastUpdateTime: taskSnap.updateTime as Timestamp })
          : await task.create(fields);
      return {
        kind: 'started',
        job: jobDoc,
        writer: new TaskWriter(task, attempt, written.writeTime),
      };
    } catch (err: unknown) {
      // Another writer got in between the read and the write: read again and decide again.
      const raced = isPreconditionFailure(err) || (err as { code?: unknown }).code === 6;
      if (!raced || tries >= 4) throw err;
    }
  }
}

/** Moves the job `dispatched → running` (first task to start); a no-op from any other state. */
export async function markJobRunning(
  db: Firestore,
  collection: string,
  jobId: string,
): Promise<boolean> {
  const ref = jobRef(db, collection, jobId);
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const state = (snap.data() as JobDocument | undefined)?.state;
    if (state !== 'dispatched' || !canTransitionJob(state, 'running')) return false;
    tx.update(ref, {
      state: 'running',
      startedAt: FieldValue.serverTimestamp(),
      updatedAt: FieldValue.serverTimestamp(),
    });
    return true;
  });
}

/**
 * Writes one attempt's task document, each write fenced on the update time of the previous
 * one: if anyone else wrote in between, the document is read and the write goes ahead only
 * if it is still this attempt's `running` document. So a late write from an older attempt can
 * never overwrite a newer attempt's state, and no write needs a transaction.
 */
export class TaskWriter {
  readonly ref: DocumentReference;
  readonly attempt: number;
  #updateTime: Timestamp;
  /** Firestore writes made (tests and the bench count them). */
  writes = 0;

  constructor(ref: DocumentReference, attempt: number, updateTime: Timestamp) {
    this.ref = ref;
    this.attempt = attempt;
    this.#updateTime = updateTime;
  }

  /** Progress and heartbeat. */
  async progress(progress: TaskProgress): Promise<void> {
    await this.#write({ progress, heartbeatAt: FieldValue.serverTimestamp() }, 'running');
  }

  /** A stored result while running (it lands with the terminal write too). */
  async result(result: Record<string, unknown>): Promise<void> {
    await this.#write({ result }, 'running');
  }

  /** The attempt's terminal state. */
  async finish(outcome: TaskOutcome): Promise<void> {
    const now = FieldValue.serverTimestamp();
    await this.#write(
      {
        state: outcome.state,
        willRetry: outcome.state === 'failed' ? outcome.willRetry : null,
        error: outcome.error,
        progress: outcome.progress,
        result: outcome.result,
        heartbeatAt: now,
        finishedAt: now,
        agg: taskFlags(outcome.state, outcome.willRetry),
      },
      outcome.state,
    );
  }

  async #write(fields: Record<string, unknown>, landedState: string): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        this.writes++;
        const result = await this.ref.update(fields, { lastUpdateTime: this.#updateTime });
        this.#updateTime = result.writeTime;
        return;
      } catch (err: unknown) {
        if (!isPreconditionFailure(err) && (err as { code?: unknown }).code !== 5) throw err;
        const snap = await this.ref.get();
        const doc = snap.data() as TaskDocument | undefined;
        if (doc?.attempt === this.attempt && doc.state === landedState && landedState !== 'running')
          return;
        if (doc?.attempt !== this.attempt || doc.state !== 'running' || tries >= 3) {
          throw new FencedError(
            `task ${this.ref.id} attempt ${this.attempt}: the document now holds attempt ${doc?.attempt ?? '(none)'} ${doc?.state ?? 'missing'}`,
            { cause: err },
          );
        }
        // Our own earlier write landed although its answer was lost: adopt its time.
        this.#updateTime = snap.updateTime as Timestamp;
      }
    }
  }
}
