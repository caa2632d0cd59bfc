import { EventEmitter } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.ts';
import { parseWorkerConfig } from '../../src/config/index.ts';
import { PermanentError } from '../../src/worker/errors.ts';
import { createWorkerFirestore } from '../../src/worker/firestore-client.ts';
import type { FunctionRegistry } from '../../src/worker/function-types.ts';
import { runTask } from '../../src/worker/run-task.ts';
import { ownTaskIdentity } from '../../src/worker/task-identity.ts';
import { emulatorHosts, testFirestore, testProjectId } from '../harness/google.ts';
import { createDispatchedJob, readJob, readTask } from './helpers.ts';

const projectId = testProjectId('aggregate');
const db = testFirestore(projectId);
// The worker's own client (REST), as `jobbridge work` creates it.
const workerDb = createWorkerFirestore({ projectId, emulatorHost: emulatorHosts().firestore });
afterAll(async () => {
  await workerDb.terminate();
  await db.terminate();
});

/** Every task reports progress, then waits for `release` (so they all end at once) and ends. */
function registry(release: Promise<void>, failIndex?: number): FunctionRegistry {
  return {
    gate: () =>
      Promise.resolve({
        default: async (ctx) => {
          ctx.progress(1, 2);
          await release;
          if (ctx.taskIndex === failIndex) throw new PermanentError(`bad input ${ctx.taskIndex}`);
          ctx.progress(2, 2);
        },
      }),
  };
}

/** The config and identity of a task of the `gate` function, from its task env. */
function gateTask(env: Record<string, string>) {
  const config = parseWorkerConfig(env);
  return { db: workerDb, config, identity: ownTaskIdentity(config, 'gate', []) };
}

/** Runs `count` tasks of one job in-process, all at once; the gate opens once all are running. */
async function runAllAtOnce(jobId: string, count: number, failIndex?: number): Promise<number[]> {
  let open: () => void = () => undefined;
  const release = new Promise<void>((resolve) => (open = resolve));
  const fns = registry(release, failIndex);
  const runs = Array.from({ length: count }, (_, index) =>
    runTask({
      ...gateTask({
        JOBBRIDGE_REQUEST_ID: jobId,
        CLOUD_RUN_TASK_INDEX: String(index),
        CLOUD_RUN_TASK_COUNT: String(count),
        JOBBRIDGE_MAX_RETRIES: '3',
      }),
      registry: fns,
      log: silentLogger(),
      signals: new EventEmitter(),
    }),
  );
  // Open the gate only when every task document says running: all ends then race each other.
  for (;;) {
    const running = await db
      .collection('jobs')
      .doc(jobId)
      .collection('tasks')
      .where('state', '==', 'running')
      .count()
      .get();
    if (running.data().count === count) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  open();
  return Promise.all(runs);
}

describe('the job aggregate when many tasks end at once (in-process, on the emulator)', () => {
  it('40 tasks ending together: the job succeeded exactly once, with exact counts and progress', async () => {
    const jobId = 'together-ok';
    await createDispatchedJob(db, jobId, 40);
    const codes = await runAllAtOnce(jobId, 40);
    expect(codes).toEqual(Array.from({ length: 40 }, () => 0));
    const job = await readJob(db, jobId);
    expect(job).toMatchObject({
      state: 'succeeded',
      tasks: { running: 0, succeeded: 40, failed: 0 },
      progress: { done: 40, total: 40, ratio: 1 },
      error: null,
    });
    expect(job.startedAt).toBeTruthy();
    expect(job.finishedAt).toBeTruthy();
  });

  it('40 tasks ending together, one permanently failed: the job failed with its message', async () => {
    const jobId = 'together-fail';
    await createDispatchedJob(db, jobId, 40);
    const codes = await runAllAtOnce(jobId, 40, 17);
    // A permanent failure exits 0 (no retry spent) like the successes.
    expect(codes).toEqual(Array.from({ length: 40 }, () => 0));
    expect(await readTask(db, jobId, 17)).toMatchObject({ state: 'failed', willRetry: false });
    const job = await readJob(db, jobId);
    expect(job.state).toBe('failed');
    expect(job.error).toMatchObject({ code: 'permanent', message: 'task 17 failed: bad input 17' });
    expect(job.tasks?.failed).toBeGreaterThanOrEqual(1);
  });

  it('tasks that start and end before the bridge records the dispatch still move the job on', async () => {
    const jobId = 'before-record';
    await createDispatchedJob(db, jobId, 5, { state: 'dispatching' });
    const codes = await runAllAtOnce(jobId, 5);
    expect(codes).toEqual([0, 0, 0, 0, 0]);
    const job = await readJob(db, jobId);
    expect(job).toMatchObject({ state: 'succeeded', tasks: { succeeded: 5 } });
    expect(job.startedAt).toBeTruthy();
  });

  it('the first task moves the job running at its start, before any task ends', async () => {
    const jobId = 'first-start';
    await createDispatchedJob(db, jobId, 3);
    let open: () => void = () => undefined;
    const release = new Promise<void>((resolve) => (open = resolve));
    const run = runTask({
      ...gateTask({
        JOBBRIDGE_REQUEST_ID: jobId,
        CLOUD_RUN_TASK_INDEX: '0',
        CLOUD_RUN_TASK_COUNT: '3',
      }),
      registry: registry(release),
      log: silentLogger(),
      signals: new EventEmitter(),
    });
    const deadline = Date.now() + 10_000;
    while ((await readJob(db, jobId)).state !== 'running') {
      if (Date.now() > deadline) throw new Error('the job never moved to running');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await readTask(db, jobId, 0))?.state).toBe('running');
    open();
    expect(await run).toBe(0);
    expect((await readJob(db, jobId)).state).toBe('running');
  });
});
