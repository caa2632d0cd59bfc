import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { emulatorHosts, testFirestore, testProjectId } from '../harness/google.ts';
import {
  createDispatchedJob,
  killLiveWorkers,
  readJob,
  readTask,
  spawnWork,
  taskEnv,
  waitFor,
} from './helpers.ts';

const projectId = testProjectId('work');
const db = testFirestore(projectId);
const firestoreHost = emulatorHosts().firestore;
let n = 0;
const newJobId = () => `job-${++n}`;

/** A fresh dispatched one-task job, and `jobbridge work fn args` started as its task 0. */
async function startTask(
  fn: string,
  args: string[],
  env: Omit<Parameters<typeof taskEnv>[0], 'projectId' | 'firestoreHost' | 'jobId'> = {},
) {
  const jobId = newJobId();
  await createDispatchedJob(db, jobId, 1);
  return { jobId, w: spawnWork(fn, args, taskEnv({ projectId, firestoreHost, jobId, ...env })) };
}

const untilRunning = (jobId: string) =>
  waitFor('running', async () =>
    (await readTask(db, jobId, 0))?.state === 'running' ? true : undefined,
  );

afterEach(killLiveWorkers);
afterAll(async () => {
  await db.terminate();
});

describe('jobbridge work, spawned with the Cloud Run task env set by hand', () => {
  it('runs a function: task succeeded, job dispatched → running → succeeded, result stored', async () => {
    const { jobId, w } = await startTask('simulate', ['--steps', '3', '--step-ms', '20']);
    expect(await w.exited).toBe(0);
    const task = await readTask(db, jobId, 0);
    expect(task).toMatchObject({
      state: 'succeeded',
      attempt: 0,
      result: { steps: 3, attempt: 0 },
    });
    expect(task?.progress).toMatchObject({ done: 3, total: 3, ratio: 1 });
    const job = await readJob(db, jobId);
    expect(job).toMatchObject({
      state: 'succeeded',
      tasks: { succeeded: 1, running: 0, failed: 0 },
    });
    expect(job.progress).toMatchObject({ ratio: 1, done: 1, total: 1 });
    expect(job.startedAt).toBeTruthy();
  });

  it('retry: attempt 0 fails midway (willRetry), attempt 1 starts from failed and succeeds; a re-run does nothing', async () => {
    const jobId = newJobId();
    await createDispatchedJob(db, jobId, 1);
    const args = ['--steps', '4', '--step-ms', '10', '--fail-at', '2', '--fail-attempts', '1'];
    const a0 = spawnWork(
      'simulate',
      args,
      taskEnv({ projectId, firestoreHost, jobId, attempt: 0 }),
    );
    expect(await a0.exited).not.toBe(0);
    expect(await readTask(db, jobId, 0)).toMatchObject({
      state: 'failed',
      attempt: 0,
      willRetry: true,
      error: {
        code: 'error',
        message: expect.stringContaining('simulated failure at step 2') as unknown,
      },
    });
    expect((await readJob(db, jobId)).state).toBe('running');
    const a1 = spawnWork(
      'simulate',
      args,
      taskEnv({ projectId, firestoreHost, jobId, attempt: 1 }),
    );
    expect(await a1.exited).toBe(0);
    const done = await readTask(db, jobId, 0);
    expect(done).toMatchObject({ state: 'succeeded', attempt: 1, error: null });
    expect((await readJob(db, jobId)).state).toBe('succeeded');
    const before = await db.collection('jobs').doc(jobId).collection('tasks').doc('0').get();
    const again = spawnWork(
      'simulate',
      args,
      taskEnv({ projectId, firestoreHost, jobId, attempt: 2 }),
    );
    expect(await again.exited).toBe(0);
    expect(again.logs.some((l) => l.message === 'task already succeeded: nothing to do')).toBe(
      true,
    );
    const after = await db.collection('jobs').doc(jobId).collection('tasks').doc('0').get();
    expect(after.updateTime?.isEqual(before.updateTime!)).toBe(true);
  });

  it('a permanent failure exits 0 (no retry spent), records willRetry false, and fails the job with its message', async () => {
    const args = ['--steps', '3', '--step-ms', '10', '--fail-at', '1', '--permanent'];
    const { jobId, w } = await startTask('simulate', args, { maxRetries: 3 });
    expect(await w.exited).toBe(0);
    expect(await readTask(db, jobId, 0)).toMatchObject({
      state: 'failed',
      willRetry: false,
      error: { code: 'permanent' },
    });
    const job = await readJob(db, jobId);
    expect(job.state).toBe('failed');
    expect(job.error?.message).toContain('simulated failure at step 1 of 3');
  });

  it('the last retry failing (attempt = maxRetries) records willRetry false and fails the job', async () => {
    const args = ['--steps', '2', '--step-ms', '10', '--fail-at', '1'];
    const { jobId, w } = await startTask('simulate', args, { attempt: 1, maxRetries: 1 });
    expect(await w.exited).toBe(1);
    expect(await readTask(db, jobId, 0)).toMatchObject({
      state: 'failed',
      attempt: 1,
      willRetry: false,
    });
    expect((await readJob(db, jobId)).state).toBe('failed');
  });

  it('an unknown function is a clear permanent error', async () => {
    const { jobId, w } = await startTask('no-such-fn', []);
    expect(await w.exited).toBe(0);
    const task = await readTask(db, jobId, 0);
    expect(task).toMatchObject({ state: 'failed', willRetry: false, error: { code: 'permanent' } });
    expect(task?.error?.message).toMatch(
      /"no-such-fn" is not in the registry \(known: echo, fan-out, simulate\)/,
    );
  });

  it('a missing required env var is named, exit 2', async () => {
    const env = taskEnv({ projectId, firestoreHost, jobId: 'x' });
    delete (env as Record<string, string | undefined>).JOBBRIDGE_REQUEST_ID;
    const w = spawnWork('simulate', [], env);
    expect(await w.exited).toBe(2);
    expect(
      w.logs.some((l) => String(l.message).startsWith('JOBBRIDGE_REQUEST_ID is required')),
    ).toBe(true);
  });

  it('SIGTERM: the function is aborted, the attempt recorded failed/terminated, exit well before a 10 s kill', async () => {
    const { jobId, w } = await startTask('simulate', ['--steps', '1000', '--step-ms', '50']);
    await waitFor(
      'progress',
      async () => ((await readTask(db, jobId, 0))?.progress.done ?? 0) > 2 || undefined,
    );
    const sentAt = Date.now();
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(143);
    expect(Date.now() - sentAt).toBeLessThan(10_000);
    const task = await readTask(db, jobId, 0);
    expect(task).toMatchObject({ state: 'failed', willRetry: true, error: { code: 'terminated' } });
    expect(task?.progress.done).toBeGreaterThan(2);
  });

  it('SIGTERM on a job with cancelRequested records cancelled, willRetry false', async () => {
    const { jobId, w } = await startTask('simulate', ['--steps', '1000', '--step-ms', '50']);
    await untilRunning(jobId);
    await db.collection('jobs').doc(jobId).update({ cancelRequested: true });
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(143);
    expect(await readTask(db, jobId, 0)).toMatchObject({
      state: 'failed',
      willRetry: false,
      error: { code: 'cancelled' },
    });
    // The job ends cancelled, not failed: its only task was stopped because of the cancel.
    expect(await readJob(db, jobId)).toMatchObject({
      state: 'cancelled',
      error: { code: 'cancelled' },
    });
  });

  it('SIGTSTP and SIGCONT (maintenance migration) do not end the task', async () => {
    const { jobId, w } = await startTask('simulate', ['--steps', '20', '--step-ms', '25']);
    await untilRunning(jobId);
    w.child.kill('SIGTSTP');
    await w.logged('paused for maintenance; the task goes on');
    w.child.kill('SIGCONT');
    await w.logged('resumed after maintenance');
    expect(await w.exited).toBe(0);
    expect((await readTask(db, jobId, 0))?.state).toBe('succeeded');
  });
});
