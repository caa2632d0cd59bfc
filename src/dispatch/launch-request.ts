import { BRIDGE_EXECUTION_ENV, type JobRequest } from '../contract/index.ts';
import type { LaunchRequest, Launcher } from '../launcher/index.ts';

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
 * Each job's maxRetries, read from Cloud Run once per job name and kept: it only changes when
 * the job is redeployed, and a worker only uses it to say whether a failure will be retried.
 * A failed read is not kept, so the next delivery asks again.
 */
export class MaxRetriesCache {
  private readonly launcher: Launcher;
  private readonly known = new Map<string, Promise<number>>();

  constructor(launcher: Launcher) {
    this.launcher = launcher;
  }

  get(job: string): Promise<number> {
    let cached = this.known.get(job);
    if (cached === undefined) {
      cached = this.launcher.getJob(job).then((info) => info.maxRetries);
      this.known.set(job, cached);
      void cached.catch(() => this.known.delete(job));
    }
    return cached;
  }
}
