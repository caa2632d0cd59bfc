import {
  AggregateField,
  FieldValue,
  type DocumentSnapshot,
  type Firestore,
  type Timestamp,
} from '@google-cloud/firestore';
import {
  canTransitionJob,
  isStartingJobState,
  isTerminalJobState,
  type JobState,
} from '../contract/states.ts';
import type {
  ErrorInfo,
  JobDocument,
  JobProgress,
  TaskCounts,
  TaskDocument,
} from '../contract/documents.ts';
import { isPreconditionFailure } from '../errors/index.ts';
import { jobRef } from './task-document.ts';

/** The job's aggregate as one aggregation query over its task documents computes it. */
export interface JobAggregate {
  tasks: TaskCounts & { failedFinal: number };
  progress: JobProgress;
  /** Sum of the task ratios: `progress` is recomputed from it when taskCount changes. */
  ratioSum: number;
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
  const counts = {
    running: Number(d.running ?? 0),
    succeeded: Number(d.succeeded ?? 0),
    failed: Number(d.failed ?? 0),
    failedFinal: Number(d.failedFinal ?? 0),
  };
  return withTaskCount({ tasks: counts, ratioSum: Number(d.ratio ?? 0) }, taskCount);
}

function withTaskCount(
  agg: Pick<JobAggregate, 'tasks' | 'ratioSum'>,
  taskCount: number,
): JobAggregate {
  const { succeeded } = agg.tasks;
  // A succeeded task counts as complete whatever its last reported ratio was.
  const ratio = taskCount > 0 ? Math.min(1, agg.ratioSum / taskCount) : 0;
  return {
    ...agg,
    progress: { done: succeeded, total: taskCount, ratio: succeeded >= taskCount ? 1 : ratio },
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
 * Periodic refresh while tasks run: one job read, one aggregation query, then at most one
 * write (see `applyAggregate`).
 */
export async function refreshJobAggregate(
  db: Firestore,
  collection: string,
  jobId: string,
  options: RefreshOptions,
): Promise<RefreshOutcome> {
  const snap = await jobRef(db, collection, jobId).get();
  const job = snap.data() as JobDocument | undefined;
  if (!job || isTerminalJobState(job.state)) return 'skipped';
  const taskCount = job.taskCount ?? 1;
  const agg = await readJobAggregate(db, collection, jobId, taskCount);
  return applyAggregate(db, collection, jobId, snap, agg, options);
}

/**
 * A task's end, after its own terminal write (docs/internals.md, "Job aggregate and its cost"): one
 * aggregation query — the last-task check. Because every task's own write precedes its query,
 * the query that runs last sees every task, so the terminal state is never missed however many
 * tasks end at once; the terminal write is a transaction, so it lands exactly once. A
 * non-terminal end touches the job document only when it is a *designated* end (`isDesignatedEnd`:
 * about one end in a hundred), which then reads the job and writes if it is over
 * `minIntervalMs` old. So a task's end costs one query, plus, rarely, one read and one write.
 */
export async function recordTaskEnd(
  db: Firestore,
  collection: string,
  jobId: string,
  task: { taskIndex: number; taskCount: number },
  options: RefreshOptions,
): Promise<RefreshOutcome> {
  const { taskCount } = task;
  const agg = await readJobAggregate(db, collection, jobId, taskCount);
  const terminal = terminalStateOf(agg, taskCount);
  if (!terminal && !isDesignatedEnd(task.taskIndex, taskCount)) return 'skipped';
  const snap = await jobRef(db, collection, jobId).get();
  const job = snap.data() as JobDocument | undefined;
  if (!job || isTerminalJobState(job.state)) return 'skipped';
  const jobTaskCount = job.taskCount ?? taskCount;
  const current = jobTaskCount === taskCount ? agg : withTaskCount(agg, jobTaskCount);
  // Designated ends at the same moment read the same job version: each waits for a different
  // age (+0…900 ms by its slot), so one writes and the others find it fresh, not refused.
  const slot = Math.floor(task.taskIndex / Math.max(1, Math.ceil(taskCount / 100))) % 10;
  return applyAggregate(db, collection, jobId, snap, current, {
    ...options,
    minIntervalMs: options.minIntervalMs + slot * 100,
  });
}

/**
 * Whether a task's (non-terminal) end refreshes the job's aggregate: one task in every
 * ⌈taskCount / 100⌉ by index, i.e. about every 1 % of the job (every task below 100 tasks).
 * Chosen by index, not by the count an end observes: ends at the same moment see the same count,
 * and would all read and race for the same write.
 */
export function isDesignatedEnd(taskIndex: number, taskCount: number): boolean {
  const every = Math.max(1, Math.ceil(taskCount / 100));
  return (taskIndex + 1) % every === 0;
}

/**
 * Writes an aggregate to the job read in `snap`: the terminal state always (in a transaction
 * that re-checks the state); otherwise counts and progress only if the job document is at least
 * `minIntervalMs` old, as an `update` preconditioned on the read's update time (of many writers
 * at once, one lands and the rest are refused without effect).
 */
async function applyAggregate(
  db: Firestore,
  collection: string,
  jobId: string,
  snap: DocumentSnapshot,
  agg: JobAggregate,
  options: RefreshOptions,
): Promise<RefreshOutcome> {
  const job = snap.data() as JobDocument;
  const terminal = terminalStateOf(agg, agg.progress.total);
  if (terminal)
    return (await writeTerminal(db, collection, jobId, snap, terminal, agg, options.failure))
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
    isStartingJobState(job.state) &&
    agg.tasks.running + agg.tasks.succeeded + agg.tasks.failed > 0
  ) {
    fields.state = 'running';
    fields.startedAt = FieldValue.serverTimestamp();
  }
  try {
    await snap.ref.update(fields, { lastUpdateTime: snap.updateTime as Timestamp });
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

/**
 * Writes the terminal state once: an `update` preconditioned on the job read in `snap`, and on
 * a refusal (someone wrote since) the job is read again and the write retried while it is still
 * not terminal. Optimistic, not a transaction: when several last tasks end at once, no one waits
 * on a lock; one lands, the others see a terminal job on their re-read and stop.
 */
async function writeTerminal(
  db: Firestore,
  collection: string,
  jobId: string,
  snap: DocumentSnapshot,
  outcome: 'succeeded' | 'failed',
  agg: JobAggregate,
  failure: ErrorInfo | undefined,
): Promise<boolean> {
  const error = outcome === 'failed' ? (failure ?? (await failureOf(db, collection, jobId))) : null;
  let current = snap;
  for (let tries = 0; ; tries++) {
    const job = current.data() as JobDocument | undefined;
    if (!job || isTerminalJobState(job.state)) return false;
    // A job whose cancel was asked for ends `cancelled`: its tasks failed because they were stopped.
    const state: JobState =
      outcome === 'failed' && job.cancelRequested === true ? 'cancelled' : outcome;
    // dispatched → running → terminal: a job whose tasks ran before any recorded start goes through running.
    const from: JobState = isStartingJobState(job.state) ? 'running' : job.state;
    if (!canTransitionJob(from, state)) return false;
    const now = FieldValue.serverTimestamp();
    try {
      await current.ref.update(
        {
          state,
          tasks: agg.tasks,
          progress: agg.progress,
          error,
          updatedAt: now,
          finishedAt: now,
          ...(isStartingJobState(job.state) ? { startedAt: now } : {}),
        },
        { lastUpdateTime: current.updateTime as Timestamp },
      );
      return true;
    } catch (err: unknown) {
      if (!isPreconditionFailure(err) || tries >= 9) throw err;
      current = await current.ref.get();
    }
  }
}
