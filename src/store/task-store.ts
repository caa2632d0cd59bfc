import {
  FieldValue,
  type DocumentReference,
  type DocumentSnapshot,
  type Firestore,
  type Timestamp,
} from '@google-cloud/firestore';
import { canTransitionJob, isStartingJobState, taskTransitionRefusal } from '../contract/states.ts';
import type { JobDocument, TaskDocument, TaskProgress } from '../contract/documents.ts';
import { isAlreadyExists, isNotFound, isPreconditionFailure } from '../errors/index.ts';
import { jobRef, taskFlags, taskRef, type TaskOutcome } from './task-document.ts';

/** What `beginAttempt` found. `job` is `undefined` when it was not read (see `readJob`). */
export type BeginResult =
  | { kind: 'started'; job: DocumentSnapshot | undefined; writer: TaskWriter }
  | { kind: 'already-succeeded'; attempt: number }
  | { kind: 'fenced'; reason: string };

/** A newer attempt (or a finished task) owns the document: this attempt must stop writing. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
}

export const EMPTY_PROGRESS: TaskProgress = { done: 0, total: 0, ratio: 0, message: null };

/**
 * Marks the task `running` for `attempt`, never requiring a prior `pending` (the seed's retry
 * bug): a missing document is created, a `failed` or `running` one of an older or the same
 * attempt is taken over, a `succeeded` one is left alone, a newer attempt's is refused.
 *
 * Attempt 0 (almost every task) tries `create` first: one round trip on the cold-start path,
 * and it can only succeed when no attempt wrote the document yet. If the document exists (a
 * rerun, or an earlier attempt), and for every retry, one batched read of the task and job
 * documents decides, then a write fenced by the read's update time. `readJob` asks for the job
 * document too (read in parallel with the create; the batched read includes it anyway).
 */
export async function beginAttempt(
  db: Firestore,
  where: { collection: string; jobId: string; taskIndex: number },
  attempt: number,
  execution: string,
  readJob = true,
): Promise<BeginResult> {
  const task = taskRef(db, where.collection, where.jobId, where.taskIndex);
  const job = jobRef(db, where.collection, where.jobId);
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
  if (attempt === 0) {
    const jobRead = readJob ? job.get() : undefined;
    jobRead?.catch(() => undefined);
    try {
      const written = await task.create(fields);
      return {
        kind: 'started',
        job: await jobRead,
        writer: new TaskWriter(task, attempt, written.writeTime),
      };
    } catch (err: unknown) {
      if (!isAlreadyExists(err)) throw err;
      // ALREADY_EXISTS: decide from the documents below.
    }
  }
  for (let tries = 0; ; tries++) {
    const [taskSnap, jobSnap] = await db.getAll(task, job);
    const current = taskSnap?.data() as TaskDocument | undefined;
    if (current?.state === 'succeeded')
      return { kind: 'already-succeeded', attempt: current.attempt };
    const refusal = taskTransitionRefusal(current, { state: 'running', attempt });
    if (refusal) return { kind: 'fenced', reason: refusal };
    try {
      const written =
        taskSnap?.exists === true
          ? await task.update(fields, { lastUpdateTime: taskSnap.updateTime as Timestamp })
          : await task.create(fields);
      return {
        kind: 'started',
        job: jobSnap,
        writer: new TaskWriter(task, attempt, written.writeTime),
      };
    } catch (err: unknown) {
      // Another writer got in between the read and the write: read again and decide again.
      const raced = isPreconditionFailure(err) || isAlreadyExists(err);
      if (!raced || tries >= 4) throw err;
    }
  }
}

/**
 * Moves the job `dispatched → running` (the first task to start), as one `update`
 * preconditioned on the job read at the task's start: no transaction, and when several tasks
 * start at once one lands and the others are refused without effect. A job still `dispatching`
 * (tasks can start before the bridge records the execution) moves too; the bridge then records
 * the execution without moving the state back. Returns whether it wrote; a no-op from any other
 * state (later aggregate writes also move a job on).
 */
export async function markJobRunning(job: DocumentSnapshot): Promise<boolean> {
  const state = (job.data() as JobDocument | undefined)?.state;
  if (state === undefined || !isStartingJobState(state)) return false;
  if (!canTransitionJob(state, 'running')) return false;
  try {
    await job.ref.update(
      {
        state: 'running',
        startedAt: FieldValue.serverTimestamp(),
        updatedAt: FieldValue.serverTimestamp(),
      },
      { lastUpdateTime: job.updateTime as Timestamp },
    );
    return true;
  } catch (err: unknown) {
    if (isPreconditionFailure(err)) return false;
    throw err;
  }
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
        if (!isPreconditionFailure(err) && !isNotFound(err)) throw err;
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
