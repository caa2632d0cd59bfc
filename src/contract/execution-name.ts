import { JOB_NAME_PATTERN } from './request.ts';

/** The parts of `projects/P/locations/L/jobs/J/executions/E`. */
export interface ExecutionNameParts {
  project: string;
  region: string;
  job: string;
  execution: string;
}

const EXECUTION_NAME =
  /^projects\/([a-z0-9][-a-z0-9.:]{0,62})\/locations\/([a-z0-9-]{1,63})\/jobs\/([^/]+)\/executions\/([a-z0-9][-a-z0-9]{0,99})$/;

/** The parts of an execution's full resource name, or undefined when it is not one. */
export function parseExecutionName(name: unknown): ExecutionNameParts | undefined {
  if (typeof name !== 'string') return undefined;
  const m = EXECUTION_NAME.exec(name);
  if (!m || !JOB_NAME_PATTERN.test(m[3] ?? '')) return undefined;
  return { project: m[1] ?? '', region: m[2] ?? '', job: m[3] ?? '', execution: m[4] ?? '' };
}

/** Where the executions a bridge may read or cancel live. */
export interface ExecutionScope {
  /** The project id; a name may carry the project number instead (Cloud Run accepts both). */
  project: string;
  region: string;
  /** The allowlist (JOBBRIDGE_JOBS); undefined: any job of the project and region. */
  jobs?: ReadonlySet<string>;
}

/**
 * An execution name read from a document, rebuilt from its execution id under `scope`, or why it
 * cannot be: anyone who can write a job document could otherwise have the bridge fetch or cancel
 * an execution of another job, region or project. A name in the project number's form is
 * rebuilt with the project id, so a number of another project cannot reach out of this one.
 */
export function scopedExecutionName(
  name: unknown,
  scope: ExecutionScope,
): { ok: true; name: string; job: string } | { ok: false; reason: string } {
  const parts = parseExecutionName(name);
  const under = `projects/${scope.project}/locations/${scope.region}`;
  if (parts === undefined) {
    return { ok: false, reason: 'is not projects/P/locations/L/jobs/J/executions/E' };
  }
  if (
    parts.region !== scope.region ||
    (parts.project !== scope.project && !/^\d+$/.test(parts.project))
  ) {
    return { ok: false, reason: `is not under ${under}` };
  }
  if (scope.jobs !== undefined && !scope.jobs.has(parts.job)) {
    return { ok: false, reason: `is of job ${parts.job}, which is not on JOBBRIDGE_JOBS` };
  }
  return {
    ok: true,
    name: `${under}/jobs/${parts.job}/executions/${parts.execution}`,
    job: parts.job,
  };
}
