import { BRIDGE_EXECUTION_ENV, type JobRequest } from '../contract/index.ts';
import type { JobInfo, LaunchRequest, Launcher } from '../launcher/index.ts';

/**
 * The RunJob overrides for a request: with `function` the args become `work <function> <args…>`
 * (the jobbridge image's CLI), without it `args` replace the job's args verbatim (undefined keeps
 * them). The bridge's own env names go last, so nothing a producer sends can shadow them (the
 * request schema already refuses `JOBBRIDGE_*`).
 */
export function launchRequest(
  request: JobRequest,
  ids: { requestId: string; docId: string; maxRetries: number },
): LaunchRequest {
  const env: Record<string, string> = {
    ...request.env,
    [BRIDGE_EXECUTION_ENV.requestId]: ids.requestId,
    [BRIDGE_EXECUTION_ENV.jobDocumentId]: ids.docId,
    [BRIDGE_EXECUTION_ENV.maxRetries]: String(ids.maxRetries),
  };
  if (request.function !== undefined) env[BRIDGE_EXECUTION_ENV.function] = request.function;
  const args =
    request.function !== undefined
      ? ['work', request.function, ...(request.args ?? [])]
      : request.args;
  return {
    job: request.job,
    env,
    ...(args !== undefined ? { args } : {}),
    ...(request.taskCount !== undefined ? { taskCount: request.taskCount } : {}),
    ...(request.timeoutSeconds !== undefined ? { timeoutSeconds: request.timeoutSeconds } : {}),
  };
}

/**
 * The RunJob overrides for a batch: `jobbridge work --batch` in every task, which finds its
 * member in `batches/{batchId}` and trusts it only when it matches `digest`; the sum of the
 * members' task counts; their common timeout. No request's id, document or function: those
 * differ per member and live in the batch document.
 */
export function batchLaunchRequest(batch: {
  job: string;
  batchId: string;
  digest: string;
  taskCount: number;
  timeoutSeconds: number | undefined;
  maxRetries: number;
}): LaunchRequest {
  return {
    job: batch.job,
    args: ['work', '--batch'],
    env: {
      [BRIDGE_EXECUTION_ENV.batchId]: batch.batchId,
      [BRIDGE_EXECUTION_ENV.batchDigest]: batch.digest,
      [BRIDGE_EXECUTION_ENV.maxRetries]: String(batch.maxRetries),
    },
    taskCount: batch.taskCount,
    ...(batch.timeoutSeconds !== undefined ? { timeoutSeconds: batch.timeoutSeconds } : {}),
  };
}

/**
 * Each job's settings as Cloud Run has them (maxRetries, the default taskCount), read once per job
 * name and kept: they only change when the job is redeployed; a worker uses maxRetries to say
 * whether a failure will be retried, and a batch member without its own taskCount runs the
 * job's. A failed read is not kept, so the next delivery asks again.
 */
export class MaxRetriesCache {
  private readonly launcher: Launcher;
  private readonly known = new Map<string, Promise<JobInfo>>();

  constructor(launcher: Launcher) {
    this.launcher = launcher;
  }

  info(job: string): Promise<JobInfo> {
    let cached = this.known.get(job);
    if (cached === undefined) {
      cached = this.launcher.getJob(job);
      this.known.set(job, cached);
      void cached.catch(() => this.known.delete(job));
    }
    return cached;
  }

  get(job: string): Promise<number> {
    return this.info(job).then((info) => info.maxRetries);
  }
}
