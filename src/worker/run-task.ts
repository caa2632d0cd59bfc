import type { Firestore } from '@google-cloud/firestore';
import type { JobDocument } from '../contract/documents.ts';
import type { Logger } from '../log.ts';
import { recordTaskEnd, refreshJobAggregate } from '../store/aggregate.ts';
import { jobRef } from '../store/task-document.ts';
import { beginAttempt, FencedError, markJobRunning, type TaskWriter } from '../store/task-store.ts';
import type { WorkerConfig } from '../config/index.ts';
import { createTaskContext } from './context.ts';
import { coerceError, isRetryable } from '../errors/index.ts';
import type { FunctionRegistry } from './function-types.ts';
import { decideOutcome, type Ending } from './outcome.ts';
import { ProgressWriter } from './progress-writer.ts';
import { loadCheckedFunction } from './registry.ts';
import { installSignalHandlers, type SignalSource } from './signals.ts';

export interface RunTaskDeps {
  db: Firestore;
  config: WorkerConfig;
  registry: FunctionRegistry;
  functionName: string;
  args: readonly string[];
  log: Logger;
  signals: SignalSource;
}

/** The job document's aggregate is written at most this often by any one trigger. */
const JOB_WRITE_MIN_INTERVAL_MS = 1000;

/**
 * Runs one attempt of one task: marks it running, runs the function with its context, records
 * the ending, refreshes the job's aggregate. Returns the exit code (see decideOutcome).
 */
export async function runTask(deps: RunTaskDeps): Promise<number> {
  const { db, config, log } = deps;
  const where = { collection: config.collection, jobId: config.jobId, taskIndex: config.taskIndex };
  // Signals are handled from the start: the task document says `running` as soon as the start
  // write lands, and a SIGTSTP before a handler exists would stop the process.
  const controller = new AbortController();
  let disposeSignals: () => void = () => undefined;
  const onTerminate = new Promise<'terminated'>((resolve) => {
    disposeSignals = installSignalHandlers(deps.signals, log, () => {
      controller.abort(new Error('terminated'));
      resolve('terminated');
      // Whatever the function does, the process exits before Cloud Run's kill 10 s later.
      setTimeout(() => process.exit(143), 9000).unref();
    });
  });
  // Task 0 reads the job at start (it moves the job to running); a retry's batched read includes
  // it anyway. Other tasks skip that read: one Firestore operation less per task (docs/internals.md, "Job
  // aggregate and its cost"); their ends keep the aggregate and the terminal state.
  const readJob = config.taskIndex === 0;
  const begun = await withRetry(log, 'begin', () =>
    beginAttempt(db, where, config.attempt, config.execution, readJob),
  );
  if (begun.kind !== 'started') disposeSignals();
  if (begun.kind === 'already-succeeded') {
    log.info({ succeededAttempt: begun.attempt }, 'task already succeeded: nothing to do');
    return 0;
  }
  if (begun.kind === 'fenced') {
    log.warn({ reason: begun.reason }, 'task document belongs to another attempt: not running');
    return 0;
  }
  const { writer } = begun;
  const job = begun.job?.data() as JobDocument | undefined;
  if (begun.job && !job)
    log.warn({ jobId: config.jobId }, 'no job document: the job aggregate will not be kept');
  const keepAggregate = begun.job === undefined || job !== undefined;
  const movedToRunning = begun.job && job ? markJobRunning(begun.job) : undefined;
  movedToRunning?.catch(() => undefined);

  let cancelled = job?.cancelRequested === true || job?.state === 'cancelled';

  let result: Record<string, unknown> | null = null;
  const progress = new ProgressWriter({
    sink: writer,
    log,
    intervalMs: config.progressIntervalMs,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    isRetryable: (err) => isRetryable(err, 'firestore'),
    isFenced: (err) => err instanceof FencedError,
  });
  const aggregateTimer = keepAggregate ? startAggregateTimer(deps) : undefined;

  let ending: Ending;
  if (cancelled) {
    ending = { kind: 'terminated', cancelled: true };
  } else {
    const run = (async (): Promise<Ending> => {
      try {
        const fn = await loadCheckedFunction(deps.registry, deps.functionName, deps.args);
        const ctx = createTaskContext({
          args: deps.args,
          taskIndex: config.taskIndex,
          taskCount: config.taskCount,
          attempt: config.attempt,
          signal: controller.signal,
          log: log.child({ fn: deps.functionName }),
          onProgress: (p) => progress.report(p),
          onResult: (r) => {
            result = r;
          },
        });
        const value = await fn(ctx);
        if (result === null && isPlainObject(value)) ctx.result(value);
        return { kind: 'returned', value };
      } catch (error: unknown) {
        return { kind: 'threw', error };
      }
    })();
    const first = await Promise.race([run, onTerminate]);
    if (first === 'terminated') {
      // Give the function a moment to stop on its signal; its progress so far is kept.
      await Promise.race([run, delay(config.termGraceMs)]);
      cancelled = await cancelRequested(db, config).catch(() => false);
      ending = { kind: 'terminated', cancelled };
    } else {
      ending = first;
    }
  }
  disposeSignals();
  clearInterval(aggregateTimer);
  const last = await progress.stop();
  const decided = decideOutcome(ending, {
    attempt: config.attempt,
    maxRetries: config.maxRetries,
    progress: last,
    result,
  });
  const { outcome } = decided;
  if (outcome.error)
    log.error({ error: outcome.error, willRetry: outcome.willRetry }, 'attempt failed');
  else log.info({ progressWrites: progress.writes }, 'attempt succeeded');
  try {
    await withRetry(log, 'finish', () => writer.finish(outcome));
  } catch (err: unknown) {
    if (!(err instanceof FencedError)) throw err;
    log.warn({ err }, 'a newer attempt owns the task: this attempt’s ending is not recorded');
    return decided.exitCode;
  }
  await movedToRunning?.catch((err: unknown) =>
    log.warn({ err }, 'could not mark the job running'),
  );
  if (keepAggregate) {
    await withRetry(log, 'aggregate', () =>
      recordTaskEnd(db, config.collection, config.jobId, config, {
        minIntervalMs: JOB_WRITE_MIN_INTERVAL_MS,
        failure:
          outcome.state === 'failed' && !outcome.willRetry
            ? failureInfo(config, outcome.error)
            : undefined,
      }),
    ).catch((err: unknown) => log.warn({ err }, 'could not refresh the job aggregate'));
  }
  log.info(
    {
      state: outcome.state,
      exitCode: decided.exitCode,
      progressWrites: progress.writes,
      taskWrites: writer.writes,
    },
    'task recorded',
  );
  return decided.exitCode;
}

function failureInfo(config: WorkerConfig, error: { code: string; message: string } | null) {
  return error
    ? { code: error.code, message: `task ${config.taskIndex} failed: ${error.message}` }
    : undefined;
}

/** While tasks run, the job's aggregate progress is refreshed about twice a second in total. */
function startAggregateTimer(deps: RunTaskDeps): NodeJS.Timeout {
  const everyMs = Math.max(2000, deps.config.taskCount * 500);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    refreshJobAggregate(deps.db, deps.config.collection, deps.config.jobId, {
      minIntervalMs: JOB_WRITE_MIN_INTERVAL_MS,
    })
      .catch((err: unknown) => deps.log.debug({ err }, 'periodic aggregate refresh failed'))
      .finally(() => {
        busy = false;
      });
  }, everyMs);
  timer.unref();
  return timer;
}

async function cancelRequested(db: Firestore, config: WorkerConfig): Promise<boolean> {
  const job = (await jobRef(db, config.collection, config.jobId).get()).data() as
    JobDocument | undefined;
  return job?.cancelRequested === true || job?.state === 'cancelled';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.getPrototypeOf(value) === Object.prototype
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Retries transient Firestore errors with exponential backoff (5 tries, up to ~3 s). */
async function withRetry<T>(log: Logger, what: string, fn: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await fn();
    } catch (err: unknown) {
      if (!isRetryable(err, 'firestore') || tries >= 4) throw coerceError(err);
      log.warn({ err, tries }, `${what}: transient Firestore error, retrying`);
      await delay(200 * 2 ** tries);
    }
  }
}

export type { TaskWriter };
