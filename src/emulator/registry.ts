import { randomBytes, randomUUID } from 'node:crypto';
import type { EmulatorJobSpec, JobFile } from './api.ts';
import { ExecutionRun, MAX_PARALLELISM, type RunSettings } from './execution-run.ts';
import { executionView, taskId, taskView, timestamp } from './execution-view.ts';
import {
  formatJobName,
  isOperationName,
  parseExecutionName,
  parseJobName,
  parseLocationName,
  parseTaskName,
  type JobName,
} from './names.ts';
import {
  applyOverrides,
  containerName,
  DEFAULT_MAX_RETRIES,
  DEFAULT_TIMEOUT_SECONDS,
  type OverridesMessage,
} from './overrides.ts';
import { EXECUTION_TYPE_URL } from './protos.ts';
import type { RunJobQuotas } from './quotas.ts';
import { failedPrecondition, invalidArgument, notFound, StatusError } from './status-error.ts';
import { status } from '@grpc/grpc-js';

/** Cloud Run keeps this many completed executions per job and deletes older ones. */
export const RETAINED_EXECUTIONS = 1000;

const COMPLETION_STATUS = {
  running: 'EXECUTION_RUNNING',
  succeeded: 'EXECUTION_SUCCEEDED',
  failed: 'EXECUTION_FAILED',
  cancelled: 'EXECUTION_CANCELLED',
} as const;

type OperationKind = 'run' | 'cancel' | 'delete';
interface OperationEntry {
  run: ExecutionRun;
  kind: OperationKind;
}

/** Offset page tokens: opaque to callers, checked when they come back. */
function pageOf<T>(
  items: T[],
  pageSize: number,
  pageToken: string,
): { page: T[]; nextPageToken: string } {
  let offset = 0;
  if (pageToken !== '') {
    const decoded = /^o(\d+)$/.exec(Buffer.from(pageToken, 'base64url').toString());
    if (!decoded)
      throw invalidArgument(`page_token: '${pageToken}' is not a token this server issued`);
    offset = Number(decoded[1]);
  }
  if (pageSize < 0) throw invalidArgument(`page_size: must not be negative, got ${pageSize}`);
  const size = pageSize > 0 ? Math.min(pageSize, 1000) : 100;
  const next =
    offset + size < items.length ? Buffer.from(`o${offset + size}`).toString('base64url') : '';
  return { page: items.slice(offset, offset + size), nextPageToken: next };
}

/** The emulator's state: the jobs of the job file (in every project and location) and their runs. */
export class Registry {
  readonly #jobs: Record<string, EmulatorJobSpec>;
  readonly #settings: RunSettings;
  readonly #encodeExecution: (execution: object) => Buffer;
  readonly #executions = new Map<string, ExecutionRun>();
  /** Operation name → the execution it is about and what was asked of it. */
  readonly #operations = new Map<string, OperationEntry>();
  readonly #createTime = new Date();
  /** Executions ever created per job (deleted ones too): Job.executionCount. */
  readonly #created = new Map<string, number>();
  readonly #quotas: RunJobQuotas;

  constructor(
    jobs: JobFile,
    settings: RunSettings,
    encodeExecution: (execution: object) => Buffer,
    quotas: RunJobQuotas,
  ) {
    this.#jobs = jobs.jobs;
    this.#quotas = quotas;
    this.#settings = settings;
    this.#encodeExecution = encodeExecution;
  }

  #job(name: string): { parsed: JobName; spec: EmulatorJobSpec } {
    const parsed = parseJobName(name);
    if (!parsed)
      throw invalidArgument(
        `name: '${name}' is not of the form projects/{project}/locations/{location}/jobs/{job}`,
      );
    const spec = this.#jobs[parsed.job];
    if (!spec) {
      throw notFound(
        `Resource '${parsed.job}' of kind 'JOB' in region '${parsed.location}' in project '${parsed.project}' does not exist.`,
      );
    }
    return { parsed, spec };
  }

  #execution(name: string): ExecutionRun {
    if (!parseExecutionName(name)) {
      throw invalidArgument(
        `name: '${name}' is not of the form projects/{project}/locations/{location}/jobs/{job}/executions/{execution}`,
      );
    }
    const run = this.#executions.get(name);
    if (!run) throw notFound(`Execution '${name}' does not exist.`);
    return run;
  }

  getJob(name: string): Record<string, unknown> {
    const { parsed, spec } = this.#job(name);
    return this.#jobView(parsed, spec);
  }

  listJobs(parent: string): Record<string, unknown>[] {
    const location = parseLocationName(parent);
    if (!location)
      throw invalidArgument(
        `parent: '${parent}' is not of the form projects/{project}/locations/{location}`,
      );
    return Object.entries(this.#jobs).map(([job, spec]) =>
      this.#jobView({ ...location, job }, spec),
    );
  }

  #jobView(parsed: JobName, spec: EmulatorJobSpec): Record<string, unknown> {
    const jobName = formatJobName(parsed);
    const runs = [...this.#executions.values()].filter((r) => r.plan.job === jobName);
    const latest = runs.at(-1);
    return {
      name: jobName,
      uid: jobName,
      generation: '1',
      createTime: timestamp(this.#createTime),
      updateTime: timestamp(this.#createTime),
      launchStage: 'GA',
      template: {
        parallelism: spec.parallelism ?? 0,
        taskCount: spec.taskCount ?? 1,
        template: {
          containers: [
            {
              name: containerName(parsed.job),
              image: 'jobbridge-emulator',
              command: spec.command,
              args: spec.args ?? [],
              env: Object.entries(spec.env ?? {}).map(([n, value]) => ({ name: n, value })),
            },
          ],
          maxRetries: spec.maxRetries ?? DEFAULT_MAX_RETRIES,
          timeout: { seconds: String(spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS), nanos: 0 },
        },
      },
      observedGeneration: '1',
      terminalCondition: {
        type: 'Ready',
        state: 'CONDITION_SUCCEEDED',
        lastTransitionTime: timestamp(this.#createTime),
      },
      executionCount: this.#created.get(jobName) ?? 0,
      latestCreatedExecution: latest
        ? {
            name: latest.plan.name,
            createTime: timestamp(latest.createTime),
            completionTime: timestamp(latest.completionTime),
            completionStatus: COMPLETION_STATUS[latest.outcome],
          }
        : null,
      reconciling: false,
    };
  }

  /** RunJob: validates, starts the execution's tasks and returns the (not yet done) Operation. */
  runJob(
    name: string,
    overrides: OverridesMessage | null | undefined,
    validateOnly: boolean,
  ): Record<string, unknown> {
    const { parsed, spec } = this.#job(name);
    const effective = applyOverrides(parsed.job, spec, overrides);
    const executionId = this.#newExecutionId(parsed);
    const jobName = formatJobName(parsed);
    const run = new ExecutionRun(
      {
        ...effective,
        // 0 is "as many as possible": Cloud Run's cap, and never more than there are tasks.
        parallelism: Math.min(
          effective.parallelism > 0 ? effective.parallelism : MAX_PARALLELISM,
          effective.taskCount,
        ),
        name: `${jobName}/executions/${executionId}`,
        job: jobName,
        jobId: parsed.job,
        executionId,
        command: spec.command,
      },
      this.#settings,
    );
    const operationName = `projects/${parsed.project}/locations/${parsed.location}/operations/${randomUUID()}`;
    if (validateOnly) return { name: operationName, done: false, metadata: this.#any(run) };
    try {
      this.#quotas.check(parsed.project, parsed.location, this.#runningIn(parsed));
    } catch (err: unknown) {
      this.#settings.log(`[emulator] RunJob ${jobName} refused: ${(err as Error).message}`);
      throw err;
    }
    this.#quotas.record(parsed.project, parsed.location);
    this.#executions.set(run.plan.name, run);
    this.#created.set(jobName, (this.#created.get(jobName) ?? 0) + 1);
    this.#operations.set(operationName, { run, kind: 'run' });
    void run.done.then(() => this.#retain(run.plan.job));
    run.start();
    return this.#operation(operationName, run, 'run');
  }

  /** Cloud Run's retention: past RETAINED_EXECUTIONS completed ones, a job's oldest go. */
  #retain(job: string): void {
    const completed = [...this.#executions.values()].filter(
      (r) => r.plan.job === job && r.completionTime !== undefined,
    );
    for (const old of completed.slice(0, Math.max(0, completed.length - RETAINED_EXECUTIONS)))
      this.#forget(old);
  }

  #forget(run: ExecutionRun): void {
    this.#executions.delete(run.plan.name);
    for (const [name, entry] of this.#operations)
      if (entry.run === run && entry.kind !== 'delete') this.#operations.delete(name);
  }

  /** Executions not yet completed in the job's project and location. */
  #runningIn(parsed: JobName): number {
    const prefix = `projects/${parsed.project}/locations/${parsed.location}/`;
    let running = 0;
    for (const [name, run] of this.#executions)
      if (name.startsWith(prefix) && run.completionTime === undefined) running++;
    return running;
  }

  #newExecutionId(parsed: JobName): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    for (;;) {
      const suffix = [...randomBytes(5)].map((b) => alphabet[b % alphabet.length]).join('');
      const id = `${parsed.job}-${suffix}`;
      if (!this.#executions.has(`${formatJobName(parsed)}/executions/${id}`)) return id;
    }
  }

  /**
   * The Execution as a google.protobuf.Any. The field is `typeUrl` to proto-loader (gRPC) and
   * `type_url` to protobufjs's own Any (HTTP/JSON): both are given.
   */
  #any(run: ExecutionRun): { typeUrl: string; type_url: string; value: Buffer } {
    return {
      typeUrl: EXECUTION_TYPE_URL,
      type_url: EXECUTION_TYPE_URL,
      value: this.#encodeExecution(executionView(run)),
    };
  }

  /**
   * The operation of a RunJob, CancelExecution or DeleteExecution: metadata is the Execution
   * from the start; once the execution ends, `response` is the Execution on success and `error`
   * says why otherwise (the Execution stays in the metadata), so `operation.promise()` resolves
   * or rejects when the run ends.
   */
  #operation(name: string, run: ExecutionRun, kind: OperationKind): Record<string, unknown> {
    const op: Record<string, unknown> = {
      name,
      metadata: this.#any(run),
      done: kind === 'delete' || run.completionTime !== undefined,
    };
    // A cancel or delete succeeds once the execution has stopped, whatever the tasks did.
    const outcome = kind !== 'run' && op.done ? 'succeeded' : run.outcome;
    switch (outcome) {
      case 'succeeded':
        op.response = this.#any(run);
        break;
      case 'failed': {
        const succeeded = run.count('succeeded');
        op.error = {
          // Cloud Run: a task past its timeout fails the run with DEADLINE_EXCEEDED, any other
          // failure with ABORTED; the message counts the tasks that succeeded.
          code: run.failure?.timedOut ? status.DEADLINE_EXCEEDED : status.ABORTED,
          message: `Execution ${run.plan.executionId} has failed to complete, ${succeeded}/${run.plan.taskCount} tasks were a success.`,
          details: [],
        };
        break;
      }
      case 'cancelled':
        op.error = {
          code: status.CANCELLED,
          message: `Execution ${run.plan.executionId} was cancelled.`,
          details: [],
        };
        break;
      case 'running':
        break;
    }
    return op;
  }

  getOperation(name: string): Record<string, unknown> {
    if (!isOperationName(name))
      throw invalidArgument(
        `name: '${name}' is not of the form projects/{project}/locations/{location}/operations/{operation}`,
      );
    const entry = this.#operations.get(name);
    if (!entry) throw notFound(`Operation '${name}' does not exist.`);
    return this.#operation(name, entry.run, entry.kind);
  }

  /** ListOperations of a location (`name` is `projects/P/locations/L`), oldest first. */
  listOperations(
    name: string,
    pageSize: number,
    pageToken: string,
  ): { operations: Record<string, unknown>[]; nextPageToken: string } {
    if (!parseLocationName(name))
      throw invalidArgument(
        `name: '${name}' is not of the form projects/{project}/locations/{location}`,
      );
    const mine = [...this.#operations].filter(([op]) => op.startsWith(`${name}/operations/`));
    const { page, nextPageToken } = pageOf(mine, pageSize, pageToken);
    return {
      operations: page.map(([op, entry]) => this.#operation(op, entry.run, entry.kind)),
      nextPageToken,
    };
  }

  deleteOperation(name: string): Record<string, never> {
    if (!isOperationName(name))
      throw invalidArgument(
        `name: '${name}' is not of the form projects/{project}/locations/{location}/operations/{operation}`,
      );
    if (!this.#operations.delete(name)) throw notFound(`Operation '${name}' does not exist.`);
    return {};
  }

  /** The run behind an operation, for WaitOperation. */
  runOfOperation(name: string): ExecutionRun | undefined {
    return this.#operations.get(name)?.run;
  }

  getExecution(name: string): Record<string, unknown> {
    return executionView(this.#execution(name));
  }

  /** Executions of a job (or of every job, with `-`), newest first, paged. */
  listExecutions(
    parent: string,
    pageSize: number,
    pageToken: string,
  ): { executions: Record<string, unknown>[]; nextPageToken: string } {
    const parsed = parseJobName(parent);
    if (!parsed)
      throw invalidArgument(
        `parent: '${parent}' is not of the form projects/{project}/locations/{location}/jobs/{job}`,
      );
    if (parsed.job !== '-') this.#job(parent);
    const prefix = `projects/${parsed.project}/locations/${parsed.location}/jobs/`;
    const runs = [...this.#executions.values()]
      .filter((r) => (parsed.job === '-' ? r.plan.job.startsWith(prefix) : r.plan.job === parent))
      .reverse();
    const { page, nextPageToken } = pageOf(runs, pageSize, pageToken);
    return { executions: page.map(executionView), nextPageToken };
  }

  /**
   * Tasks of an execution, by index. Cloud Run's `-` lists across executions of a job
   * (`jobs/J/executions/-`) or across jobs (`jobs/-/executions/-`); newest execution first.
   */
  listTasks(
    parent: string,
    pageSize: number,
    pageToken: string,
  ): { tasks: Record<string, unknown>[]; nextPageToken: string } {
    const parsed = parseExecutionName(parent);
    if (!parsed)
      throw invalidArgument(
        `parent: '${parent}' is not of the form projects/{project}/locations/{location}/jobs/{job}/executions/{execution}`,
      );
    let runs: ExecutionRun[];
    if (parsed.execution === '-' || parsed.job === '-') {
      if (parsed.job !== '-') this.#job(formatJobName(parsed));
      const prefix = `projects/${parsed.project}/locations/${parsed.location}/jobs/`;
      runs = [...this.#executions.values()]
        .filter(
          (r) =>
            r.plan.job.startsWith(prefix) &&
            (parsed.job === '-' || r.plan.jobId === parsed.job) &&
            (parsed.execution === '-' || r.plan.executionId === parsed.execution),
        )
        .reverse();
    } else {
      runs = [this.#execution(parent)];
    }
    const all = runs.flatMap((run) => run.tasks.map((task) => ({ run, task })));
    const { page, nextPageToken } = pageOf(all, pageSize, pageToken);
    return { tasks: page.map(({ run, task }) => taskView(run, task)), nextPageToken };
  }

  getTask(name: string): Record<string, unknown> {
    const parsed = parseTaskName(name);
    if (!parsed)
      throw invalidArgument(
        `name: '${name}' is not of the form projects/{project}/locations/{location}/jobs/{job}/executions/{execution}/tasks/{task}`,
      );
    const run = this.#executions.get(parsed.executionName);
    const task = run?.tasks.find((t) => taskId(run, t.index) === parsed.task);
    if (!run || !task) throw notFound(`Task '${name}' does not exist.`);
    return taskView(run, task);
  }

  /** DeleteExecution: refused while the execution runs, as Cloud Run refuses it. */
  deleteExecution(name: string, validateOnly: boolean, etag: string): Record<string, unknown> {
    const run = this.#execution(name);
    const view = executionView(run);
    if (etag !== '' && etag !== view.etag)
      throw new StatusError(
        status.ABORTED,
        `etag: '${etag}' does not match the execution's current etag ${String(view.etag)}`,
      );
    if (!run.completionTime)
      throw failedPrecondition(
        `Execution '${name}' is still running: cancel it and wait for it to stop before deleting it.`,
      );
    const parsed = parseExecutionName(name);
    const operationName = `projects/${parsed?.project}/locations/${parsed?.location}/operations/${randomUUID()}`;
    if (validateOnly) return { name: operationName, done: false, metadata: this.#any(run) };
    this.#forget(run);
    this.#operations.set(operationName, { run, kind: 'delete' });
    return this.#operation(operationName, run, 'delete');
  }

  /** CancelExecution: returns an operation for the cancel, done once every task has stopped. */
  cancelExecution(name: string, validateOnly: boolean): Record<string, unknown> {
    const run = this.#execution(name);
    const parsed = parseExecutionName(name);
    const operationName = `projects/${parsed?.project}/locations/${parsed?.location}/operations/${randomUUID()}`;
    if (validateOnly) return { name: operationName, done: false, metadata: this.#any(run) };
    run.cancel();
    this.#operations.set(operationName, { run, kind: 'cancel' });
    return this.#operation(operationName, run, 'cancel');
  }

  /** Kills every task process and resolves once all of them have exited. */
  async killAll(): Promise<void> {
    const runs = [...this.#executions.values()];
    for (const run of runs) run.kill();
    await Promise.all(runs.map((run) => run.done));
  }
}
