import type { EmulatorJobSpec } from './api.ts';
import { invalidArgument } from './status-error.ts';

/** Cloud Run's limits on what a RunJob may ask for. */
export const MAX_TASK_COUNT = 10_000;
export const MAX_TIMEOUT_SECONDS = 168 * 3600;
/** Cloud Run's defaults for a job that does not say. */
export const DEFAULT_TIMEOUT_SECONDS = 600;
export const DEFAULT_MAX_RETRIES = 3;

/**
 * The job's one container is named after the job, as `gcloud run jobs deploy` names it (the
 * seed article's override names its container `screenshot`, its job's name): what an
 * override's `name` must be, if it names one.
 */
export const containerName = (jobId: string): string => jobId;

/**
 * Env names Cloud Run sets itself and refuses in a job's or an override's env: the task
 * contract (`CLOUD_RUN_*`), `PORT` and the `K_*` names of the container contract.
 */
export function reservedEnvName(name: string): boolean {
  return (
    name.startsWith('CLOUD_RUN_') ||
    name === 'PORT' ||
    name === 'K_SERVICE' ||
    name === 'K_REVISION' ||
    name === 'K_CONFIGURATION'
  );
}

/** RunJobRequest.overrides as proto-loader decodes it (camelCase, defaults filled in). */
export interface OverridesMessage {
  containerOverrides?: {
    name?: string;
    args?: string[];
    clearArgs?: boolean;
    env?: { name?: string; value?: string }[];
  }[];
  taskCount?: number;
  timeout?: { seconds?: string | number; nanos?: number } | null;
}

/** What an execution runs after the RunJob overrides were applied. */
export interface EffectiveRun {
  args: string[];
  /** The job's env merged with the overrides: what the execution's template shows. */
  env: Record<string, string>;
  taskCount: number;
  /** The job's parallelism: how many tasks run at once, 0 for as many as Cloud Run allows. */
  parallelism: number;
  maxRetries: number;
  timeoutSeconds: number;
}

/**
 * Applies RunJob overrides the way Cloud Run documents them: `args` replace the job's args
 * (`clearArgs` empties them), `env` merges over the job's env, `taskCount` and `timeout`
 * replace. parallelism and maxRetries cannot be overridden. Throws INVALID_ARGUMENT naming the
 * field for what Cloud Run would refuse.
 */
export function applyOverrides(
  jobId: string,
  spec: EmulatorJobSpec,
  overrides: OverridesMessage | null | undefined,
): EffectiveRun {
  let args = spec.args ?? [];
  const env = { ...spec.env };
  let taskCount = spec.taskCount ?? 1;
  let timeoutSeconds = spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const containers = overrides?.containerOverrides ?? [];
  if (containers.length > 1) {
    throw invalidArgument(
      'overrides.container_overrides: a job has one container, got ' + containers.length,
    );
  }
  const container = containers[0];
  if (container) {
    if (container.name && container.name !== containerName(jobId)) {
      throw invalidArgument(
        `overrides.container_overrides[0].name: '${container.name}' is not a container of the job (its container is '${containerName(jobId)}')`,
      );
    }
    const overrideArgs = container.args ?? [];
    if (container.clearArgs && overrideArgs.length > 0) {
      throw invalidArgument(
        'overrides.container_overrides[0].clear_args: must not be set together with args',
      );
    }
    if (container.clearArgs) args = [];
    else if (overrideArgs.length > 0) args = [...overrideArgs];
    for (const [i, variable] of (container.env ?? []).entries()) {
      if (!variable.name || !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(variable.name)) {
        throw invalidArgument(
          `overrides.container_overrides[0].env[${i}].name: not a valid env var name`,
        );
      }
      if (reservedEnvName(variable.name)) {
        throw invalidArgument(
          `overrides.container_overrides[0].env[${i}].name: '${variable.name}' is reserved by Cloud Run and cannot be set`,
        );
      }
      env[variable.name] = variable.value ?? '';
    }
  }
  const requestedTasks = overrides?.taskCount ?? 0;
  if (requestedTasks < 0 || requestedTasks > MAX_TASK_COUNT) {
    throw invalidArgument(
      `overrides.task_count: must be between 1 and ${MAX_TASK_COUNT}, got ${requestedTasks}`,
    );
  }
  // proto3: 0 means "not set", so the job's taskCount stays.
  if (requestedTasks > 0) taskCount = requestedTasks;
  const timeout = overrides?.timeout;
  if (timeout) {
    const seconds = Number(timeout.seconds ?? 0) + (timeout.nanos ?? 0) / 1e9;
    if (seconds < 0)
      throw invalidArgument(`overrides.timeout: must not be negative, got ${seconds}s`);
    if (seconds > MAX_TIMEOUT_SECONDS) {
      throw invalidArgument(
        `overrides.timeout: must be at most ${MAX_TIMEOUT_SECONDS}s, got ${seconds}s`,
      );
    }
    if (seconds > 0) timeoutSeconds = seconds;
  }
  return {
    args,
    env,
    taskCount,
    parallelism: spec.parallelism ?? 0,
    maxRetries: spec.maxRetries ?? DEFAULT_MAX_RETRIES,
    timeoutSeconds,
  };
}
