import { status } from '@grpc/grpc-js';
import type { QuotaOptions } from './api.ts';
import { StatusError } from './status-error.ts';

/**
 * Cloud Run's defaults for the two limits a RunJob call can hit (docs/local.md says where each
 * number comes from): the Admin API's "Job run requests per minute per region" quota, and the
 * "Maximum number of running job executions" per project and region.
 */
export const CLOUD_RUN_DEFAULT_QUOTAS: Readonly<Required<QuotaOptions>> = Object.freeze({
  runJobPerMinute: 180,
  maxRunningExecutions: 1000,
});

const WINDOW_MS = 60_000;

/**
 * The RunJob quotas, per project and location as on Cloud Run. The rate is a sliding window:
 * in no 60 s span are more than `runJobPerMinute` executions started, so a caller that paces
 * itself to the quota never sees RESOURCE_EXHAUSTED and one that does not always does.
 * Only calls that start an execution count; a refused call costs nothing.
 */
export class RunJobQuotas {
  #options: QuotaOptions;
  readonly #started = new Map<string, number[]>();

  constructor(options: QuotaOptions | undefined) {
    this.#options = { ...options };
  }

  set(options: QuotaOptions): void {
    this.#options = { ...options };
  }

  get options(): QuotaOptions {
    return { ...this.#options };
  }

  /**
   * Throws RESOURCE_EXHAUSTED with Cloud Run's wording when a RunJob in this project and
   * location would pass either limit. `running` is how many executions there are running now.
   */
  check(project: string, location: string, running: number): void {
    const { runJobPerMinute, maxRunningExecutions } = this.#options;
    if (runJobPerMinute !== undefined && runJobPerMinute > 0) {
      const recent = this.#recent(project, location);
      if (recent.length >= runJobPerMinute) {
        throw new StatusError(
          status.RESOURCE_EXHAUSTED,
          `Quota exceeded for quota metric 'Job run requests' and limit 'Job run requests per minute per region' of service 'run.googleapis.com' for consumer 'project_number:${project}'.`,
        );
      }
    }
    if (
      maxRunningExecutions !== undefined &&
      maxRunningExecutions > 0 &&
      running >= maxRunningExecutions
    ) {
      throw new StatusError(
        status.RESOURCE_EXHAUSTED,
        `Quota exceeded for quota metric 'Running executions' and limit 'Maximum number of running job executions per project and region' of service 'run.googleapis.com' for consumer 'project_number:${project}': ${running} of ${maxRunningExecutions} in region '${location}'.`,
      );
    }
  }

  /** Counts a RunJob that started an execution. */
  record(project: string, location: string): void {
    this.#recent(project, location).push(Date.now());
  }

  #recent(project: string, location: string): number[] {
    const key = `${project}/${location}`;
    const since = Date.now() - WINDOW_MS;
    const list = (this.#started.get(key) ?? []).filter((t) => t > since);
    this.#started.set(key, list);
    return list;
  }
}
