import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/leaks.ts';
import { startRunEmulator, type StartedRunEmulator } from '../../src/emulator/index.ts';
import { isRetryable as isRetryableFrom } from '../../src/errors/index.ts';
import { CloudRunLauncher, createRunClients, type RunClients } from '../../src/launcher/index.ts';
import { testProjectId } from '../harness/google.ts';
import { until } from '../emulator/helpers.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const isRetryable = (err: unknown) => isRetryableFrom(err, 'cloud-run');

const BLOCK = fileURLToPath(new URL('../emulator/fixtures/block.ts', import.meta.url));

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err: unknown) {
    return err;
  }
  throw new Error('expected the call to fail');
}

describe('CloudRunLauncher against the Cloud Run Jobs emulator', () => {
  let emulator: StartedRunEmulator;
  let clients: RunClients;
  let launcher: CloudRunLauncher;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'launcher-'));
    emulator = await startRunEmulator({
      jobs: {
        jobs: {
          blocker: {
            command: [process.execPath, BLOCK],
            taskCount: 2,
            maxRetries: 4,
            timeoutSeconds: 300,
          },
        },
      },
      log: () => {},
    });
    clients = createRunClients({ emulatorHost: emulator.host });
    launcher = new CloudRunLauncher(clients, {
      project: testProjectId('launch'),
      region: 'europe-west1',
    });
  });
  afterAll(async () => {
    await clients.close();
    await emulator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('launch returns the operation and execution names while the tasks are still running', async () => {
    const release = join(dir, 'release-1');
    const result = await launcher.launch({
      job: 'blocker',
      env: { RELEASE_FILE: release },
      taskCount: 3,
    });
    expect(result.executionName).toMatch(/\/jobs\/blocker\/executions\/blocker-[a-z0-9]{5}$/);
    expect(result.operationName).toMatch(/\/operations\//);
    const running = await launcher.getExecution(result.executionName);
    expect(running.done).toBe(false);
    expect(running.taskCount).toBe(3);
    await writeFile(release, '');
    const done = await until('the execution to finish', async () => {
      const e = await launcher.getExecution(result.executionName);
      return e.done ? e : undefined;
    });
    expect(done.succeededCount).toBe(3);
    expect(done.conditions.find((c) => c.type === 'Completed')?.state).toBe('CONDITION_SUCCEEDED');
  });

  it('passes args, clearArgs and timeout as overrides', async () => {
    const release = join(dir, 'release-2');
    await writeFile(release, '');
    const withArgs = await launcher.launch({
      job: 'blocker',
      args: ['work', 'thumbnail'],
      env: { RELEASE_FILE: release },
      timeoutSeconds: 42,
    });
    const [execution] = await clients.executions.getExecution({ name: withArgs.executionName });
    expect(execution.template?.containers?.[0]?.args).toEqual(['work', 'thumbnail']);
    expect(Number(execution.template?.timeout?.seconds)).toBe(42);
    const cleared = await launcher.launch({
      job: 'blocker',
      args: [],
      env: { RELEASE_FILE: release },
    });
    const [clearedExecution] = await clients.executions.getExecution({
      name: cleared.executionName,
    });
    expect(clearedExecution.template?.containers?.[0]?.args).toEqual([]);
  });

  it('findExecutionsByEnv finds the executions started with an env value, newest first', async () => {
    const release = join(dir, 'release-3');
    await writeFile(release, '');
    const first = await launcher.launch({
      job: 'blocker',
      env: { RELEASE_FILE: release, JOBBRIDGE_REQUEST_ID: 'req-a' },
    });
    await launcher.launch({
      job: 'blocker',
      env: { RELEASE_FILE: release, JOBBRIDGE_REQUEST_ID: 'req-b' },
    });
    const second = await launcher.launch({
      job: 'blocker',
      env: { RELEASE_FILE: release, JOBBRIDGE_REQUEST_ID: 'req-a' },
    });
    const found = await launcher.findExecutionsByEnv('blocker', 'JOBBRIDGE_REQUEST_ID', 'req-a');
    expect(found.map((e) => e.name)).toEqual([second.executionName, first.executionName]);
    expect(found[0]?.env.JOBBRIDGE_REQUEST_ID).toBe('req-a');
    expect(
      await launcher.findExecutionsByEnv('blocker', 'JOBBRIDGE_REQUEST_ID', 'req-none'),
    ).toEqual([]);
  });

  it('cancelExecution stops a running execution', async () => {
    const result = await launcher.launch({
      job: 'blocker',
      env: { RELEASE_FILE: join(dir, 'never') },
    });
    await launcher.cancelExecution(result.executionName);
    const done = await until('the execution to stop', async () => {
      const e = await launcher.getExecution(result.executionName);
      return e.done ? e : undefined;
    });
    expect(done.cancelledCount).toBe(2);
    expect(done.conditions.find((c) => c.type === 'Completed')).toMatchObject({
      state: 'CONDITION_FAILED',
      reason: 'CANCELLED',
    });
  });

  it('getJob reads maxRetries and taskCount from the job', async () => {
    const job = await launcher.getJob('blocker');
    expect(job).toEqual({ name: launcher.jobName('blocker'), maxRetries: 4, taskCount: 2 });
  });

  it('classes UNAVAILABLE and RESOURCE_EXHAUSTED as retryable, NOT_FOUND and INVALID_ARGUMENT as permanent', async () => {
    emulator.setFaults({ runJobUnavailableRate: 1 });
    const unavailable = await rejection(launcher.launch({ job: 'blocker' }));
    emulator.setFaults({ runJobResourceExhaustedRate: 1 });
    const exhausted = await rejection(launcher.launch({ job: 'blocker' }));
    emulator.setFaults({});
    const notFound = await rejection(launcher.launch({ job: 'no-such-job' }));
    const invalid = await rejection(launcher.launch({ job: 'blocker', taskCount: 20_000 }));
    expect(
      [unavailable, exhausted, notFound, invalid].map((e) => (e as { code?: number }).code),
    ).toEqual([
      status.UNAVAILABLE,
      status.RESOURCE_EXHAUSTED,
      status.NOT_FOUND,
      status.INVALID_ARGUMENT,
    ]);
    expect(isRetryable(unavailable)).toBe(true);
    expect(isRetryable(exhausted)).toBe(true);
    expect(isRetryable(notFound)).toBe(false);
    expect(isRetryable(invalid)).toBe(false);
    expect(isRetryable(new Error('no code'))).toBe(false);
    expect(isRetryable({ code: status.DEADLINE_EXCEEDED })).toBe(true);
    expect(isRetryable({ code: status.PERMISSION_DENIED })).toBe(false);
  });

  it('createRunClients refuses an emulator host without a port', () => {
    expect(() => createRunClients({ emulatorHost: 'localhost' })).toThrow(
      /CLOUD_RUN_EMULATOR_HOST: expected host:port/,
    );
  });
});
