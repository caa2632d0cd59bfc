import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { ExecutionsClient, JobsClient, TasksClient, protos } from '@google-cloud/run';
import { OAuth2Client } from 'google-auth-library';
import {
  startRunEmulator,
  type RunEmulatorOptions,
  type StartedRunEmulator,
} from '../../src/emulator/index.ts';
import { testProjectId } from '../harness/google.ts';
import { waitFor } from '../../bench/lib/poll.ts';
import { executionEnv } from '../../src/launcher/index.ts';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const NODE = process.execPath;
export const ConditionState = protos.google.cloud.run.v2.Condition.State;
export const ExecutionReason = protos.google.cloud.run.v2.Condition.ExecutionReason;
export type IExecution = protos.google.cloud.run.v2.IExecution;

/** How the clients talk to the emulator: gRPC, or HTTP/1.1 JSON (`fallback: true`). */
export type Transport = 'grpc' | 'http';

/** A started emulator with the real Cloud Run clients pointed at it, in a fresh project. */
export interface Rig {
  emulator: StartedRunEmulator;
  transport: Transport;
  jobs: JobsClient;
  executions: ExecutionsClient;
  tasks: TasksClient;
  project: string;
  location: string;
  dir: string;
  logs: string[];
  jobName(job: string): string;
  close(): Promise<void>;
}

/**
 * Options of the real clients for the emulator on `port`. HTTP/JSON clients need an auth client
 * that can fetch: a real OAuth2Client holding a token the emulator does not check.
 */
export function clientOptions(port: number, transport: Transport) {
  const common = {
    apiEndpoint: '127.0.0.1',
    port,
    projectId: 'emulator',
    universeDomain: 'googleapis.com',
  };
  if (transport === 'grpc') return { ...common, sslCreds: grpc.credentials.createInsecure() };
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: 'emulator', expiry_date: Date.now() + 86_400_000 });
  return { ...common, fallback: true as const, protocol: 'http', authClient };
}

export async function startRig(
  options: Omit<RunEmulatorOptions, 'log'> & { transport?: Transport },
): Promise<Rig> {
  const { transport = 'grpc', ...emulatorOptions } = options;
  const dir = await mkdtemp(join(tmpdir(), 'run-emulator-'));
  const logs: string[] = [];
  const emulator = await startRunEmulator({
    ...emulatorOptions,
    taskEnv: { OUT_DIR: dir, ...options.taskEnv },
    log: (l) => logs.push(l),
  });
  const opts = clientOptions(emulator.port, transport);
  const jobs = new JobsClient(opts);
  const executions = new ExecutionsClient(opts);
  const tasks = new TasksClient(opts);
  const project = testProjectId('run');
  const location = 'asia-northeast1';
  return {
    emulator,
    transport,
    jobs,
    executions,
    tasks,
    project,
    location,
    dir,
    logs,
    jobName: (job) => `projects/${project}/locations/${location}/jobs/${job}`,
    async close() {
      await Promise.all([jobs.close(), executions.close(), tasks.close()]);
      await emulator.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
): Promise<T> {
  return waitFor(what, check, timeoutMs, 25);
}

/** Polls GetExecution until the execution has a completion time. */
export async function waitDone(rig: Rig, name: string, timeoutMs = 15_000): Promise<IExecution> {
  return until(
    `${name} to complete`,
    async () => {
      const [execution] = await rig.executions.getExecution({ name });
      return execution.completionTime ? execution : undefined;
    },
    timeoutMs,
  );
}

/** Runs a job and returns the execution name from the operation's metadata. */
export async function run(
  rig: Rig,
  job: string,
  overrides?: protos.google.cloud.run.v2.RunJobRequest.IOverrides,
) {
  const [operation] = await rig.jobs.runJob({ name: rig.jobName(job), overrides });
  const metadata = operation.metadata as IExecution;
  return { operation, execution: metadata.name ?? '' };
}

export interface Recorded {
  argv: string[];
  env: Record<string, string>;
}

/** What record-env.ts wrote for each attempt of an execution, keyed `index-attempt`. */
export async function recorded(rig: Rig, execution: string): Promise<Map<string, Recorded>> {
  const id = execution.split('/').at(-1) ?? '';
  const result = new Map<string, Recorded>();
  for (const file of await readdir(rig.dir)) {
    if (!file.startsWith(`${id}-`) || !file.endsWith('.json')) continue;
    const key = file.slice(id.length + 1, -'.json'.length);
    result.set(key, JSON.parse(await readFile(join(rig.dir, file), 'utf8')) as Recorded);
  }
  return result;
}

/**
 * A condition with its enums as names: the clients decode them as names on unary calls and as
 * numbers when unpacking an operation's Any, so tests compare names.
 */
export function condition(execution: IExecution, type: string) {
  const found = execution.conditions?.find((c) => c.type === type);
  if (!found) return undefined;
  const name = (value: unknown, names: Record<string, unknown>) =>
    typeof value === 'number'
      ? Object.keys(names).find((k) => names[k] === value)
      : (value as string | undefined);
  return {
    state: name(found.state, ConditionState),
    executionReason: name(found.executionReason, ExecutionReason),
    message: found.message ?? '',
  };
}

export function completed(execution: IExecution) {
  return condition(execution, 'Completed');
}

/** An execution's container env by name (the launcher's reading of it). */
export const envOf = executionEnv;

/** The gRPC status code of a rejected call. */
export async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err: unknown) {
    return (err as { code?: number }).code;
  }
}
