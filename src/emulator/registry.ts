import { randomBytes, randomUUID } from 'node:crypto';
import type { EmulatorJobSpec, JobFile } from './api.ts';
import { ExecutionRun, type RunSettings } from './execution-run.ts';
import { executionView, timestamp } from './execution-view.ts';
import {
  formatJobName,
  isOperationName,
  parseExecutionName,
  parseJobName,
  parseLocationName,
  type JobName,
} from './names.ts';
import {
  applyOverrides,
  DEFAULT_MAX_RETRIES,
  DEFAULT_TIMEOUT_SECONDS,
  type OverridesMessage,
} from './overrides.ts';
import { EXECUTION_TYPE_URL } from './protos.ts';
import type { RunJobQuotas } from './quotas.ts';
import { invalidArgument, notFound } from './status-error.ts';
import { status } from '@grpc/grpc-js';

/** The emulator's state: the jobs of the job file (in every project and location) and their runs. */
export class Registry {
  readonly #jobs: Record<string, EmulatorJobSpec>;
  readonly #settings: RunSettings;
  readonly #encodeExecution: (execution: object) => Buffer;
  readonly #executions = new Map<string, ExecutionRun>();
  /** Operation name → the execution it is about and whether it is the RunJob or a cancel. */
  readonly #operations = new Map<string, { execution: string; kind: 'run' | 'cancel' }>();
  readonly #createTime = new Date();
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
              name: 'container-0',
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
      executionCount: runs.length,
      latestCreatedExecution: latest
        ? {
            name: latest.plan.name,
            createTime: timestamp(latest.createTime),
            completionTime: timestamp(latest.completionTime),
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
    const effective = applyOverrides(spec, overrides);
    const executionId = this.#newExecutionId(parsed);
    const jobName = formatJobName(parsed);
    const run = new ExecutionRun(
      {
        ...effective,
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
    this.#operations.set(operationName, { execution: run.plan.name, kind: 'run' });
    run.start();
    return this.#operation(operationName, run, 'run');
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

  #any(run: ExecutionRun): { typeUrl: string; value: Buffer } {
    return { typeUrl: EXECUTION_TYPE_URL, value: this.#encodeExecution(executionView(run)) };
  }

  /**
   * The RunJob operation: metadata is the Execution from the start; once the execution ends,
   * `response` is the Execution on success and `error` says why otherwise (the Execution stays in
   * the metadata), so `operation.promise()` resolves or rejects when the run ends.
   */
  #operation(name: string, run: ExecutionRun, kind: 'run' | 'cancel'): Record<string, unknown> {
    const op: Record<string, unknown> = {
      name,
      metadata: this.#any(run),
      done: run.completionTime !== undefined,
    };
    // A cancel operation succeeds once the execution has stopped, whatever the tasks did.
    const outcome = kind === 'cancel' && op.done ? 'succeeded' : run.outcome;
    switch (outcome) {
      case 'succeeded':
        op.response = this.#any(run);
        break;
      case 'failed':
        op.error = {
          code: status.ABORTED,
          message: `Execution ${run.plan.executionId} failed: task ${run.failure?.index ?? 0}: ${run.failure?.reason ?? ''}`,
          details: [],
        };
        break;
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
    const run = entry === undefined ? undefined : this.#executions.get(entry.execution);
    if (!entry || !run) throw notFound(`Operation '${name}' does not exist.`);
    return this.#operation(name, run, entry.kind);
  }

  /** The run behind an operation, for WaitOperation. */
  runOfOperation(name: string): ExecutionRun | undefined {
    const entry = this.#operations.get(name);
    return entry === undefined ? undefined : this.#executions.get(entry.execution);
  }

  getExecution(name: string): Record<string, unknown> {
    return executionView(this.#execution(name));
  }

  /** Executions of a job, newest first, paged by offset tokens. */
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
    if (!this.#jobs[parsed.job]) this.#job(parent);
    const offset = pageToken === '' ? 0 : Number(pageToken);
    if (!Number.isInteger(offset) || offset < 0)
      throw invalidArgument(`page_token: '${pageToken}' is not a token this server issued`);
    const size = pageSize > 0 ? Math.min(pageSize, 1000) : 100;
    const runs = [...this.#executions.values()].filter((r) => r.plan.job === parent).reverse();
    const page = runs.slice(offset, offset + size);
    const next = offset + size < runs.length ? String(offset + size) : '';
    return { executions: page.map(executionView), nextPageToken: next };
  }

  /** CancelExecution: returns an operation for the cancel, done once every task has stopped. */
  cancelExecution(name: string, validateOnly: boolean): Record<string, unknown> {
    const run = this.#execution(name);
    const parsed = parseExecutionName(name);
    const operationName = `projects/${parsed?.project}/locations/${parsed?.location}/operations/${randomUUID()}`;
    if (validateOnly) return { name: operationName, done: false, metadata: this.#any(run) };
    run.cancel();
    this.#operations.set(operationName, { execution: name, kind: 'cancel' });
    return this.#operation(operationName, run, 'cancel');
  }

  /** Kills every task process and resolves once all of them have exited. */
  async killAll(): Promise<void> {
    const runs = [...this.#executions.values()];
    for (const run of runs) run.kill();
    await Promise.all(runs.map((run) => run.done));
  }
}
