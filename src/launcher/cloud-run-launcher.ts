import type { ExecutionsClient, JobsClient, TasksClient, protos } from '@google-cloud/run';
import { scopedExecutionName } from '../contract/index.ts';
import { grpcError, status } from '../errors/index.ts';
import type {
  ExecutionSummary,
  JobInfo,
  LaunchRequest,
  LaunchResult,
  Launcher,
  TaskSummary,
} from './launcher.ts';

type IExecution = protos.google.cloud.run.v2.IExecution;
type ITimestamp = protos.google.protobuf.ITimestamp;

export interface CloudRunLauncherConfig {
  project: string;
  /** Cloud Run location of the jobs (JOBBRIDGE_REGION). */
  region: string;
  /** How many recent executions `findExecutionsByEnv` scans at most. */
  scanLimit?: number;
}

export interface CloudRunLauncherClients {
  jobs: JobsClient;
  executions: ExecutionsClient;
  tasks: TasksClient;
}

const CONDITION_STATES = [
  'STATE_UNSPECIFIED',
  'CONDITION_PENDING',
  'CONDITION_RECONCILING',
  'CONDITION_FAILED',
  'CONDITION_SUCCEEDED',
];
const EXECUTION_REASONS = [
  'EXECUTION_REASON_UNDEFINED',
  'JOB_STATUS_SERVICE_POLLING_ERROR',
  'NON_ZERO_EXIT_CODE',
  'CANCELLED',
  'CANCELLING',
  'DELETED',
  'DELAYED_START_PENDING',
];

function toDate(ts: ITimestamp | null | undefined): Date | undefined {
  if (!ts || ts.seconds === undefined || ts.seconds === null) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6));
}

function enumName(value: unknown, names: string[]): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return names[value] ?? String(value);
  return undefined;
}

/** The env of an execution's (first) container, by name: where jobbridge's ids ride. */
export function executionEnv(execution: IExecution): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of execution.template?.containers?.[0]?.env ?? []) {
    if (variable.name) env[variable.name] = variable.value ?? '';
  }
  return env;
}

/** Maps a Cloud Run Execution message to the port's summary. */
export function summarizeExecution(execution: IExecution): ExecutionSummary {
  const env = executionEnv(execution);
  const completionTime = toDate(execution.completionTime);
  return {
    name: execution.name ?? '',
    job: execution.job ?? '',
    env,
    createTime: toDate(execution.createTime),
    startTime: toDate(execution.startTime),
    completionTime,
    taskCount: execution.taskCount ?? 0,
    runningCount: execution.runningCount ?? 0,
    succeededCount: execution.succeededCount ?? 0,
    failedCount: execution.failedCount ?? 0,
    cancelledCount: execution.cancelledCount ?? 0,
    retriedCount: execution.retriedCount ?? 0,
    done: completionTime !== undefined,
    conditions: (execution.conditions ?? []).map((c) => ({
      type: c.type ?? '',
      state: enumName(c.state, CONDITION_STATES) ?? 'STATE_UNSPECIFIED',
      reason: enumName(c.executionReason, EXECUTION_REASONS) ?? enumName(c.reason, []),
      message: c.message ?? undefined,
    })),
  };
}

/** Maps a Cloud Run Task message to the port's summary. */
export function summarizeTask(task: protos.google.cloud.run.v2.ITask): TaskSummary {
  const completed = (task.conditions ?? []).find((c) => c.type === 'Completed');
  const conditionState = enumName(completed?.state, CONDITION_STATES);
  const reason = enumName(completed?.executionReason, EXECUTION_REASONS);
  const startTime = toDate(task.startTime);
  const completionTime = toDate(task.completionTime);
  let state: TaskSummary['state'];
  if (conditionState === 'CONDITION_SUCCEEDED') state = 'succeeded';
  else if (conditionState === 'CONDITION_FAILED')
    state = reason === 'CANCELLED' || reason === 'CANCELLING' ? 'cancelled' : 'failed';
  else state = startTime === undefined ? 'pending' : 'running';
  return {
    index: task.index ?? 0,
    state,
    retried: task.retried ?? 0,
    exitCode: task.lastAttemptResult?.exitCode ?? 0,
    termSignal: task.lastAttemptResult?.termSignal ?? 0,
    ...(completed?.message ? { message: completed.message } : {}),
    ...(startTime ? { startTime } : {}),
    ...(completionTime ? { completionTime } : {}),
  };
}

/**
 * The Launcher over the real `@google-cloud/run` clients. `launch` returns as soon as Cloud Run
 * accepted the run: awaiting the operation would block for the whole run (the seed article).
 */
export class CloudRunLauncher implements Launcher {
  readonly #clients: CloudRunLauncherClients;
  readonly #config: CloudRunLauncherConfig;

  constructor(clients: CloudRunLauncherClients, config: CloudRunLauncherConfig) {
    this.#clients = clients;
    this.#config = config;
  }

  /** Full resource name of a job of the configured project and region. */
  jobName(job: string): string {
    return `projects/${this.#config.project}/locations/${this.#config.region}/jobs/${job}`;
  }

  async launch(request: LaunchRequest): Promise<LaunchResult> {
    const containerOverride: protos.google.cloud.run.v2.RunJobRequest.Overrides.IContainerOverride =
      {};
    if (request.args !== undefined) {
      if (request.args.length === 0) containerOverride.clearArgs = true;
      else containerOverride.args = request.args;
    }
    if (request.env)
      containerOverride.env = Object.entries(request.env).map(([name, value]) => ({ name, value }));
    const [operation] = await this.#clients.jobs.runJob({
      name: this.jobName(request.job),
      overrides: {
        containerOverrides: Object.keys(containerOverride).length > 0 ? [containerOverride] : [],
        ...(request.taskCount !== undefined ? { taskCount: request.taskCount } : {}),
        ...(request.timeoutSeconds !== undefined
          ? { timeout: { seconds: request.timeoutSeconds } }
          : {}),
      },
    });
    // Never operation.promise(): the name of the execution is in the metadata from the start.
    const metadata = operation.metadata as IExecution | null | undefined;
    const operationName = operation.name;
    if (!operationName || !metadata?.name) {
      throw new Error(
        `runJob for ${request.job}: the operation carries no execution name in its metadata`,
      );
    }
    return { operationName, executionName: metadata.name };
  }

  async findExecutionsByEnv(job: string, name: string, value: string): Promise<ExecutionSummary[]> {
    const limit = this.#config.scanLimit ?? 200;
    const found: ExecutionSummary[] = [];
    let scanned = 0;
    // Executions come newest first; a request's execution is recent, so the scan is bounded.
    for await (const execution of this.#clients.executions.listExecutionsAsync(
      { parent: this.jobName(job), pageSize: 50 },
      { autoPaginate: false },
    )) {
      const summary = summarizeExecution(execution);
      if (summary.env[name] === value) found.push(summary);
      if (++scanned >= limit) break;
    }
    return found;
  }

  /**
   * A name the caller read from somewhere (a job document), rebuilt under this launcher's project
   * and region; INVALID_ARGUMENT (permanent) for a name outside them.
   */
  #scoped(executionName: string): string {
    const scoped = scopedExecutionName(executionName, this.#config);
    if (!scoped.ok) {
      throw grpcError(
        status.INVALID_ARGUMENT,
        `execution name ${executionName.slice(0, 300)} ${scoped.reason}`,
      );
    }
    return scoped.name;
  }

  async getExecution(executionName: string): Promise<ExecutionSummary> {
    const name = this.#scoped(executionName);
    const [execution] = await this.#clients.executions.getExecution({ name });
    return summarizeExecution(execution);
  }

  async listTasks(executionName: string): Promise<TaskSummary[]> {
    const tasks: TaskSummary[] = [];
    for await (const task of this.#clients.tasks.listTasksAsync({
      parent: this.#scoped(executionName),
      pageSize: 500,
    }))
      tasks.push(summarizeTask(task));
    return tasks.sort((a, b) => a.index - b.index);
  }

  async cancelExecution(executionName: string): Promise<void> {
    const name = this.#scoped(executionName);
    // Cancelling is accepted at once; waiting for the tasks to stop is not the caller's concern.
    await this.#clients.executions.cancelExecution({ name });
  }

  async getJob(job: string): Promise<JobInfo> {
    const [found] = await this.#clients.jobs.getJob({ name: this.jobName(job) });
    return {
      name: found.name ?? this.jobName(job),
      maxRetries: found.template?.template?.maxRetries ?? 3,
      taskCount: found.template?.taskCount ?? 1,
    };
  }
}
