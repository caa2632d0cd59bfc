import {
  AggregateField,
  FieldValue,
  type Firestore,
  type Timestamp,
} from '@google-cloud/firestore';
import {
  canTransitionJob,
  isTerminalJobState,
  type ErrorInfo,
  type JobDocument,
  type JobProgress,
  type JobState,
  type TaskCounts,
  type TaskDocument,
} from '../contract/index.ts';
import { isPreconditionFailure } from '../worker/errors.ts';
import { jobRef } from './task-document.ts';

/** The job's aggregate as one aggregation query over its task documents computes it. */
export interface JobAggregate {
  tasks: TaskCounts & { failedFinal: number };
  progress: JobProgress;
}

/**
 * One aggregation query (five sums over the per-state flags and progress ratios of the task
 * documents): task counts, and progress as `done` = succeeded tasks of `total` = taskCount,
 * `ratio` = the mean of the task ratios (a task not yet started counts 0, a succeeded one 1).
 */
export async function readJobAggregate(
  db: Firestore,
  collection: string,
  jobId: string,
  taskCount: number,
): Promise<JobAggregate> {
  const tasks = jobRef(db, collection, jobId).collection('tasks');
  const snap = await tasks
    .aggregate({
      running: AggregateField.sum('agg.running'),
      succeeded: AggregateField.sum('agg.succeeded'),
      failed: AggregateField.sum('agg.failed'),
      failedFinal: AggregateField.sum('agg.failedFinal'),
      ratio: AggregateField.sum('progress.ratio'),
    })
    .get();
  const d = snap.data();
  const succeeded = Number(d.succeeded ?? 0);
  // A succeeded task counts as complete whatever its last reported ratio was.
  const ratio = taskCount > 0 ? Math.min(1, Number(d.ratio ?? 0) / taskCount) : 0;
  return {
    tasks: {
      running: Number(d.running ?? 0),
      succeeded,
      failed: Number(d.failed ?? 0),
      failedFinal: Number(d.failedFinal ?? 0),
    },
    progress: { done: succeeded, total: taskCount, ratio: succeeded === taskCount ? 1 : ratio },
  };
}

/** The terminal state an aggregate implies, if any. */
export function terminalStateOf(
  agg: JobAggregate,
  taskCount: number,
): 'succeeded' | 'failed' | undefined {
  if (agg.tasks.failedFinal > 0) return 'failed';
  if (agg.tasks.succeeded >= taskCount) return 'succeeded';
  return undefined;
}

export interface RefreshOptions {
  /** Non-terminal updates are skipped when the job document was written less than this ago. */
  minIntervalMs: number;
  /** The error of the task that triggers the refresh, used when it makes the job fail. */
  failure?: ErrorInfo;
  now?: () => number;
}

export type RefreshOutcome = 'terminal' | 'updated' | 'skipped';

/**
 * Brings the job document's aggregate up to date after a task changed. Cost: one document read
 * and one aggregation query; then at most one write, and only if the job was not written in the
 * last `minIntervalMs` (a precondition on that read's update time: of many tasks finishing at
 * once, one writes and the others skip) — except the terminal state, which always lands, in a
 * transaction. The last task to finish always sees every task's write (each task's own write
 * precedes its query), so the terminal state cannot be missed.
 */
export async function refreshJobAggregate(
  db: Firestore,
  collection: string,
  jobId: string,
  options: RefreshOptions,
): Promise<RefreshOutcome> {
  const ref = jobRef(db, collection, jobId);
  const snap = await ref.get();
  const job = snap.data() as JobDocument | undefined;
  if (!job || isTerminalJobState(job.state)) return 'skipped';
  const taskCount = job.taskCount ?? 1;
  const agg = await readJobAggregate(db, collection, jobId, taskCount);
  const terminal = terminalStateOf(agg, taskCount);
  if (terminal)
    return (await writeTerminal(db, collection, jobId, terminal, agg, options.failure))
      ? 'terminal'
      : 'skipped';
  const now = options.now?.() ?? Date.now();
  const updated = (snap.updateTime as Timestamp).toMillis();
  if (now - updated < options.minIntervalMs) return 'skipped';
  const fields: Record<string, unknown> = {
    tasks: agg.tasks,
    progress: agg.progress,
    updatedAt: FieldValue.serverTimestamp(),
  };
  if (
    job.state === 'dispatched' &&
    agg.tasks.running + agg.tasks.succeeded + agg.tasks.failed > 0
  ) {
    fields.state = 'running';
    fields.startedAt = FieldValue.serverTimestamp();
  }
  try {
    await ref.update(fields, { lastUpdateTime: snap.updateTime as Timestamp });
    return 'updated';
  } catch (err: unknown) {
    if (isPreconditionFailure(err)) return 'skipped';
    throw err;
  }
}

async function failureOf(db: Firestore, collection: string, jobId: string): Promise<ErrorInfo> {
  const q = await jobRef(db, collection, jobId)
    .collection('tasks')
    .where('agg.failedFinal', '==', 1)
    .limit(1)
    .get();
  const doc = q.docs[0]?.data() as TaskDocument | undefined;
  const code = doc?.error?.code ?? 'task-failed';
  return {
    code,
    message: `task ${doc?.taskIndex ?? '?'} failed: ${doc?.error?.message ?? 'unknown error'}`,
  };
}

/** Writes the terminal state once, in a transaction that re-checks the job's state. */
async function writeTerminal(
  db: Firestore,
  collection: string,
  jobId: string,
  state: 'succeeded' | 'failed',
  agg: JobAggregate,
  failure: ErrorInfo | undefined,
): Promise<boolean> {
  const error = state === 'failed' ? (failure ?? (await failureOf(db, collection, jobId))) : null;
  const ref = jobRef(db, collection, jobId);
  return db.runTransaction(async (tx) => {
    const current = (await tx.get(ref)).data() as JobDocument | undefined;
    if (!current || isTerminalJobState(current.state)) return false;
    // dispatched → running → terminal: a job whose tasks ran before any recorded start goes through running.
    const from: JobState = current.state === 'dispatched' ? 'running' : current.state;
    if (!canTransitionJob(from, state)) return false;
    const now = FieldValue.serverTimestamp();
    tx.update(ref, {
      state,
      tasks: agg.tasks,
      progress: agg.progress,
      error,
      updatedAt: now,
      finishedAt: now,
      ...(current.state === 'dispatched' ? { startedAt: now } : {}),
    });
    return true;
  });
}
