import type { Firestore } from '@google-cloud/firestore';
import type { JobDocument } from '../contract/documents.ts';
import type { Logger } from '../log.ts';
import { recordTaskEnd, refreshJobAggregate } from '../store/aggregate.ts';
import { jobCancelRequested } from '../store/job-cancel.ts';
import { beginAttempt, FencedError, markJobRunning, type TaskWriter } from '../store/task-store.ts';
import type { WorkerConfig } from '../config/index.ts';
import { createTaskContext } from './context.ts';
import { isRetryable } from '../errors/index.ts';
import type { FunctionRegistry } from './function-types.ts';
import { decideOutcome, type Ending } from './outcome.ts';
import { ProgressWriter } from './progress-writer.ts';
import { loadCheckedFunction } from './registry.ts';
import { delay, withRetry } from './retry.ts';
import { installSignalHandlers, type SignalSource } from './signals.ts';
import type { TaskIdentity } from './task-identity.ts';

export interface RunTaskDeps {
  db: Firestore;
  config: WorkerConfig;
  registry: FunctionRegistry;
  /** Who the task is: its job, function, args, env and place (`ownTaskIdentity`, `resolveBatchTask`). */
  identity: TaskIdentity;
  /**
   * Set when the task must not run its function (a batch document that fails its digest): the
   * attempt is recorded as a permanent failure with this reason.
   */
  refusal?: string;
  /** Where the identity's env is set before the function runs (process.env in `jobbridge work`). */
  processEnv?: Record<string, string | undefined>;
  log: Logger;
  signals: SignalSource;
}

/** The job document's aggregate is written at most this often by any one trigger. */
const JOB_WRITE_MIN_INTERVAL_MS = 1000;

/**
 * Runs one attempt of one task — of a request's own execution or a batch member's slice, alike:
 * marks it running, runs the function with its context, records the ending, refreshes the job's
 * aggregate. Returns the exit code (see decideOutcome).
 */
export async function runTask(deps: RunTaskDeps): Promise<number> {
  const { db, config, log, identity } = deps;
  const where = {
    collection: config.collection,
    jobId: identity.jobId,
    taskIndex: identity.taskIndex,
  };
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
  const readJob = identity.taskIndex === 0;
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
    log.warn({ jobId: identity.jobId }, 'no job document: the job aggregate will not be kept');
  const keepAggregate = begun.job === undefined || job !== undefined;
  const movedToRunning = begun.job && job ? markJobRunning(begun.job) : undefined;
  movedToRunning?.catch(() => undefined);

  const cancelledAtStart = job?.cancelRequested === true || job?.state === 'cancelled';

  let result: Record<string, unknown> | null = null;
  const progress = new ProgressWriter({
    sink: writer,
    log,
    intervalMs: config.progressIntervalMs,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    isRetryable: (err) => isRetryable(err, 'firestore'),
    isFenced: (err) => err instanceof FencedError,
  });
  const refused = deps.refusal !== undefined;
  const aggregateTimer = keepAggregate && !refused ? startAggregateTimer(deps) : undefined;
  // A batch's execution is cancelled only when every member is: a member's own cancel reaches
  // its tasks through its job document, read every cancelPollMs.
  const cancelWatch =
    identity.batchId !== undefined && !refused && !cancelledAtStart
      ? watchCancel(deps, () => controller.abort(new Error('the job was cancelled')))
      : undefined;

  let ending: Ending;
  if (deps.refusal !== undefined) {
    ending = { kind: 'refused', reason: deps.refusal };
  } else if (cancelledAtStart) {
    ending = { kind: 'cancelled' };
  } else {
    if (deps.processEnv) Object.assign(deps.processEnv, identity.env);
    const run = (async (): Promise<Ending> => {
      try {
        const fn = await loadCheckedFunction(deps.registry, identity.functionName, identity.args);
        const ctx = createTaskContext({
          args: identity.args,
          taskIndex: identity.taskIndex,
          taskCount: identity.taskCount,
          attempt: config.attempt,
          signal: controller.signal,
          log: log.child({ fn: identity.functionName }),
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
    const first = await Promise.race([run, onTerminate, cancelWatch?.seen ?? never]);
    if (first === 'terminated') {
      // Give the function a moment to stop on its signal; its progress so far is kept.
      await Promise.race([run, delay(config.termGraceMs)]);
      const cancelled = await jobCancelRequested(db, config.collection, identity.jobId).catch(
        () => false,
      );
      ending = { kind: 'terminated', cancelled };
    } else if (first === 'cancelled') {
      log.warn('the job was cancelled: the function was aborted');
      await Promise.race([run, delay(config.termGraceMs)]);
      ending = { kind: 'cancelled' };
    } else {
      ending = first;
    }
  }
  cancelWatch?.stop();
  disposeSignals();
  clearInterval(aggregateTimer);
  const last = await progress.stop();
  const decided = decideOutcome(ending, {
    attempt: config.attempt,
    maxRetries: identity.maxRetries,
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
      recordTaskEnd(db, config.collection, identity.jobId, identity, {
        minIntervalMs: JOB_WRITE_MIN_INTERVAL_MS,
        failure:
          outcome.state === 'failed' && !outcome.willRetry
            ? failureInfo(identity, outcome.error)
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

function failureInfo(identity: TaskIdentity, error: { code: string; message: string } | null) {
  return error
    ? { code: error.code, message: `task ${identity.taskIndex} failed: ${error.message}` }
    : undefined;
}

const never = new Promise<never>(() => undefined);

/** Reads the job every `cancelPollMs` until stopped; `seen` resolves once a cancel is found. */
function watchCancel(
  deps: RunTaskDeps,
  onCancel: () => void,
): { seen: Promise<'cancelled'>; stop(): void } {
  const { db, config, identity, log } = deps;
  let busy = false;
  let timer: NodeJS.Timeout | undefined;
  const seen = new Promise<'cancelled'>((resolve) => {
    timer = setInterval(() => {
      if (busy) return;
      busy = true;
      jobCancelRequested(db, config.collection, identity.jobId)
        .then((cancelled) => {
          if (!cancelled) return;
          clearInterval(timer);
          onCancel();
          resolve('cancelled');
        })
        .catch((err: unknown) => log.debug({ err }, 'cancel check failed'))
        .finally(() => {
          busy = false;
        });
    }, config.cancelPollMs);
    timer.unref();
  });
  return { seen, stop: () => clearInterval(timer) };
}

/** While tasks run, the job's aggregate progress is refreshed about twice a second in total. */
function startAggregateTimer(deps: RunTaskDeps): NodeJS.Timeout {
  const everyMs = Math.max(2000, deps.identity.taskCount * 500);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    refreshJobAggregate(deps.db, deps.config.collection, deps.identity.jobId, {
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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.getPrototypeOf(value) === Object.prototype
  );
}

export type { TaskWriter };
