import {
  BATCH_COLLECTION,
  BRIDGE_EXECUTION_ENV,
  CLOUD_RUN_TASK_ENV,
  batchDigest,
  batchTaskCount,
  memberOfTask,
  parseBatchContent,
  type BatchContent,
} from '../contract/index.ts';
import type { WorkerConfig } from '../config/index.ts';
import { coerceError } from '../errors/index.ts';
import type { Logger } from '../log.ts';
import type { BatchReadStore } from '../store/port.ts';
import { withRetry } from './retry.ts';
import { runTask, type RunTaskDeps } from './run-task.ts';
import type { TaskIdentity } from './task-identity.ts';

/**
 * What a task of a batch's execution found in `batches/{id}`:
 * - `run`: the document matches the digest in the execution's env; run this member's slice.
 * - `refuse`: it does not (or does not fit the execution): nothing runs, and the refusal is
 *   recorded as the failure of the task the document names, so its job ends with the reason.
 * - `unplaced`: no member can be named (no document, unreadable, no member owns this index);
 *   nothing runs and nothing is written.
 */
export type BatchTask =
  | { kind: 'run'; identity: TaskIdentity }
  | { kind: 'refuse'; identity: TaskIdentity; reason: string }
  | { kind: 'unplaced'; reason: string };

/**
 * Reads the batch document once (the caller keeps the answer for the task's life) and decides.
 * The document is trusted only when `batchDigest` of its content equals JOBBRIDGE_BATCH_DIGEST:
 * that value travels in the execution's own env, which only whoever started the execution could
 * set, while the document is open to anyone who can write Firestore (job functions among them).
 * An untrusted document is still read to name the task whose failure to record: that runs
 * nothing, and a writer of Firestore could write that failure itself. Throws only when Firestore
 * stays unavailable.
 */
export async function resolveBatchTask(
  reader: BatchReadStore,
  config: WorkerConfig,
  log: Logger,
): Promise<BatchTask> {
  if (!config.batch) throw new Error('resolveBatchTask needs a batch config (work --batch)');
  const { id, digest } = config.batch;
  const where = `${BATCH_COLLECTION}/${id}`;
  const data = await withRetry(log, 'read batch', () => reader.readBatch(id));
  if (data === undefined) return { kind: 'unplaced', reason: `${where} does not exist` };
  let content: BatchContent;
  try {
    content = parseBatchContent(data);
  } catch (err: unknown) {
    return { kind: 'unplaced', reason: `${where}: ${coerceError(err).message}` };
  }
  const found = memberOfTask(content, config.taskIndex);
  if (!found)
    return {
      kind: 'unplaced',
      reason: `${where} has no member for task ${config.taskIndex} (its members hold ${batchTaskCount(content)} tasks)`,
    };
  const { member, localIndex } = found;
  const identity: TaskIdentity = {
    jobId: member.documentId,
    requestId: member.requestId,
    functionName: member.function,
    args: member.args,
    env: member.env,
    taskIndex: localIndex,
    taskCount: member.taskCount,
    maxRetries: config.maxRetries,
    batchId: id,
  };
  const actual = batchDigest(content);
  if (actual !== digest)
    return {
      kind: 'refuse',
      identity,
      reason: `${where} does not match ${BRIDGE_EXECUTION_ENV.batchDigest} (the document was changed after the batch started: its digest is ${actual}, the execution's ${digest}); nothing was run`,
    };
  const total = batchTaskCount(content);
  if (total !== config.taskCount)
    return {
      kind: 'refuse',
      identity,
      reason: `${where} holds ${total} tasks but the execution has ${CLOUD_RUN_TASK_ENV.taskCount}=${config.taskCount}; nothing was run`,
    };
  return { kind: 'run', identity };
}

/**
 * `jobbridge work --batch`: resolves this task's member from the batch document, then runs it
 * through the same runner as any task (`runTask`), as the member's task `localIndex` of
 * `member.taskCount`. A refusal is recorded there as the task's permanent failure; a task no
 * member can be named for exits 1 having written nothing (Cloud Run's task then fails, and the
 * reconciler reads that).
 */
export async function runBatchTask(
  deps: Omit<RunTaskDeps, 'identity' | 'refusal'> & { batches: BatchReadStore },
): Promise<number> {
  const { batches, ...rest } = deps;
  const resolved = await resolveBatchTask(batches, deps.config, deps.log);
  if (resolved.kind === 'unplaced') {
    deps.log.fatal({ batchId: deps.config.batch?.id }, `refusing to run: ${resolved.reason}`);
    return 1;
  }
  const { identity } = resolved;
  const log = deps.log.child({
    requestId: identity.requestId,
    jobId: identity.jobId,
    memberTaskIndex: identity.taskIndex,
  });
  if (resolved.kind === 'refuse') {
    log.error({ reason: resolved.reason }, 'refusing to run the batch member');
    return runTask({ ...rest, log, identity, refusal: resolved.reason });
  }
  return runTask({ ...rest, log, identity });
}
