import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { startWorkEmulator, workJob, type WorkEmulator } from '../harness/work-emulator.ts';
import {
  createDispatchedJob,
  readJob,
  readTask,
  startContentServer,
  type ContentServer,
} from './helpers.ts';

const projectId = testProjectId('worker-emu');
/** simulate-timeout's task timeout. */
const TIMEOUT_S = 8;
const db = testFirestore(projectId);
let rig: WorkEmulator;
let server: ContentServer;
let dir: string;

function job(
  args: string[],
  extra: { taskCount?: number; maxRetries?: number; timeoutSeconds?: number } = {},
) {
  return workJob(args, {
    env: { JOBBRIDGE_PROGRESS_INTERVAL_MS: '200' },
    taskCount: extra.taskCount ?? 1,
    parallelism: 0,
    maxRetries: extra.maxRetries ?? 3,
    timeoutSeconds: extra.timeoutSeconds ?? 120,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'worker-emu-'));
  server = await startContentServer();
  rig = await startWorkEmulator(projectId, {
    'fan-out': job(['fan-out'], { taskCount: 4 }),
    simulate: job(['simulate']),
    // Long enough for the worker to be up (its task recorded running, its SIGTERM handler set) on
    // a machine at a load average of 30: the emulator signals the entrypoint only, as Cloud Run does.
    'simulate-timeout': job(['simulate'], { maxRetries: 0, timeoutSeconds: TIMEOUT_S }),
  });
});

afterAll(async () => {
  await rig?.close();
  await server?.close();
  await db.terminate();
  await rm(dir, { recursive: true, force: true });
});

/** Starts an execution as the bridge would: env overrides naming the job document. */
async function launch(jobName: string, jobId: string, args?: string[], maxRetries = 3) {
  return rig.launcher.launch({
    job: jobName,
    ...(args ? { args } : {}),
    env: {
      JOBBRIDGE_REQUEST_ID: jobId,
      JOBBRIDGE_JOB_ID: jobId,
      JOBBRIDGE_MAX_RETRIES: String(maxRetries),
    },
  });
}

/** `work simulate`: `steps` steps of `stepMs` each, then `flags` (the failures to inject). */
function simulate(steps: number, stepMs: number, ...flags: string[]): string[] {
  return ['work', 'simulate', '--steps', String(steps), '--step-ms', String(stepMs), ...flags];
}

function executionDone(name: string) {
  return rig.executionDone(name);
}

describe('tasks started by the Cloud Run Jobs emulator as child processes', () => {
  it('a 4-task fan-out: 4 tasks succeeded with results, the job succeeded at 100 %', async () => {
    const files = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const path = join(dir, `input-${i}.txt`);
        await writeFile(path, `file ${i}`);
        return path;
      }),
    );
    const inputs = [...files, ...[0, 1, 2, 3].map((i) => `${server.baseUrl}/item/${i}`)];
    await createDispatchedJob(db, 'fan-out-4', 4, { function: 'fan-out' });
    const { executionName } = await launch('fan-out', 'fan-out-4', ['work', 'fan-out', ...inputs]);
    const execution = await executionDone(executionName);
    expect(execution.succeededCount).toBe(4);
    const hashes = new Map<string, string>();
    for (let i = 0; i < 4; i++) {
      const task = await readTask(db, 'fan-out-4', i);
      expect(task).toMatchObject({
        state: 'succeeded',
        attempt: 0,
        progress: { done: 2, total: 2, ratio: 1 },
      });
      const items = (task?.result as { items: { input: string; sha256: string }[] }).items;
      expect(items.map((x) => x.input)).toEqual([inputs[i], inputs[i + 4]]);
      for (const item of items) hashes.set(item.input, item.sha256);
    }
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(hashes.get(files[2]!)).toBe(sha('file 2'));
    expect(hashes.get(`${server.baseUrl}/item/3`)).toBe(sha('content of /item/3'));
    const jobDoc = await readJob(db, 'fan-out-4');
    expect(jobDoc).toMatchObject({
      state: 'succeeded',
      tasks: { succeeded: 4, failed: 0, running: 0 },
    });
    expect(jobDoc.progress).toEqual({ done: 4, total: 4, ratio: 1 });
  });

  it('retry: attempt 0 throws midway, Cloud Run retries, attempt 1 succeeds', async () => {
    await createDispatchedJob(db, 'retry-throw', 1);
    const args = simulate(4, 20, '--fail-at', '2', '--fail-attempts', '1');
    const { executionName } = await launch('simulate', 'retry-throw', args);
    const execution = await executionDone(executionName);
    expect(execution).toMatchObject({ succeededCount: 1, retriedCount: 1 });
    expect(await readTask(db, 'retry-throw', 0)).toMatchObject({
      state: 'succeeded',
      attempt: 1,
      error: null,
    });
    expect((await readJob(db, 'retry-throw')).state).toBe('succeeded');
  });

  it('retry: attempt 0 is SIGKILLed midway (left running), attempt 1 takes over and finishes', async () => {
    await createDispatchedJob(db, 'retry-kill', 1);
    const args = simulate(4, 20, '--fail-at', '2', '--fail-attempts', '1', '--kill');
    const { executionName } = await launch('simulate', 'retry-kill', args);
    const execution = await executionDone(executionName);
    expect(execution).toMatchObject({ succeededCount: 1, retriedCount: 1 });
    expect(await readTask(db, 'retry-kill', 0)).toMatchObject({ state: 'succeeded', attempt: 1 });
    expect((await readJob(db, 'retry-kill')).state).toBe('succeeded');
  });

  it('a permanent failure spends no retry: the execution ends after one attempt, the job failed with the message', async () => {
    await createDispatchedJob(db, 'permanent', 1);
    const args = simulate(3, 10, '--fail-at', '1', '--permanent');
    const { executionName } = await launch('simulate', 'permanent', args);
    const execution = await executionDone(executionName);
    expect(execution.retriedCount).toBe(0);
    expect(await readTask(db, 'permanent', 0)).toMatchObject({
      state: 'failed',
      attempt: 0,
      willRetry: false,
    });
    const jobDoc = await readJob(db, 'permanent');
    expect(jobDoc.state).toBe('failed');
    expect(jobDoc.error?.message).toContain('simulated failure at step 1 of 3 (attempt 0)');
  });

  it('timeout: the task gets SIGTERM, records failed/terminated and exits before the kill', async () => {
    await createDispatchedJob(db, 'timeout', 1);
    const args = simulate(1000, 50);
    const started = Date.now();
    const { executionName } = await launch('simulate-timeout', 'timeout', args, 0);
    const execution = await executionDone(executionName);
    // The kill would come 10 s after the timeout: the execution ended before it.
    expect(Date.now() - started).toBeLessThan((TIMEOUT_S + 10) * 1000);
    expect(execution.failedCount).toBe(1);
    expect(await readTask(db, 'timeout', 0)).toMatchObject({
      state: 'failed',
      willRetry: false,
      error: { code: 'terminated' },
    });
    expect(
      rig.log.some((l) => l.includes('"message":"task recorded"') && l.includes('"exitCode":143')),
    ).toBe(true);
    expect((await readJob(db, 'timeout')).state).toBe('failed');
  });
});
