import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BATCH_COLLECTION,
  BRIDGE_EXECUTION_ENV,
  batchDigest,
  batchTaskCount,
  jobDocumentId,
  type BatchContent,
  type BatchMember,
} from '../../src/contract/index.ts';
import { cancelJob, waitForJob } from '../../src/consumer/index.ts';
import { cliEnv, runCli } from '../cli/run-cli.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { startWorkEmulator, workJob, type WorkEmulator } from '../harness/work-emulator.ts';
import {
  createDispatchedJob,
  readJob,
  readTask,
  startContentServer,
  waitFor,
  type ContentServer,
} from './helpers.ts';

/**
 * Batches on the worker side, end to end: a batch document and its members' job documents are
 * written as a drainer leaves them, one execution is started with the real Cloud Run client on
 * the Cloud Run Jobs emulator (`work --batch`, JOBBRIDGE_BATCH_ID/DIGEST), and its tasks run as
 * `jobbridge work` processes.
 */
const projectId = testProjectId('worker-batch');
const db = testFirestore(projectId);
let rig: WorkEmulator;
/** The test server; its `fetched` paths are what fan-out members fetched. */
let server: ContentServer;

function batchJob(parallelism: number, maxRetries: number) {
  return workJob(['--batch'], {
    // The task env a member's env goes over.
    env: {
      JOBBRIDGE_PROGRESS_INTERVAL_MS: '200',
      JOBBRIDGE_CANCEL_POLL_MS: '200',
      ECHO_COLOR: 'job-default',
    },
    taskCount: 1,
    parallelism,
    maxRetries,
    timeoutSeconds: 120,
  });
}

beforeAll(async () => {
  server = await startContentServer();
  rig = await startWorkEmulator(projectId, {
    batch: batchJob(4, 1),
    // One task at a time: the test changes the document between two tasks.
    'batch-serial': batchJob(1, 0),
  });
});

afterAll(async () => {
  await rig?.close();
  await server?.close();
  await db.terminate();
});

type MemberSpec = Pick<BatchMember, 'requestId' | 'taskCount' | 'function' | 'args'> & {
  env?: Record<string, string>;
};

/**
 * Writes what a drainer writes (the batch document and each member's job document, carrying
 * `dispatch.batchId` and `taskOffset`) and starts the execution as the bridge does: args
 * `work --batch`, the batch id and digest in its env, the members' task counts summed.
 */
async function startBatch(jobName: string, specs: MemberSpec[]) {
  const batchId = randomUUID();
  let offset = 0;
  const members = specs.map((s): BatchMember => {
    const m = {
      requestId: s.requestId,
      documentId: jobDocumentId(s.requestId),
      offset,
      taskCount: s.taskCount,
      function: s.function,
      args: s.args,
      env: s.env ?? {},
    };
    offset += s.taskCount;
    return m;
  });
  const content: BatchContent = { job: jobName, members };
  const digest = batchDigest(content);
  const now = new Date();
  await db
    .collection(BATCH_COLLECTION)
    .doc(batchId)
    .set({
      ...content,
      digest,
      taskCount: batchTaskCount(content),
      state: 'dispatched',
      lease: null,
      createdAt: now,
      expireAt: new Date(now.getTime() + 86_400_000),
    });
  for (const m of members)
    await createDispatchedJob(db, m.documentId, m.taskCount, {
      requestId: m.requestId,
      job: jobName,
      function: m.function,
      args: m.args,
      envNames: Object.keys(m.env),
      dispatch: {
        leaseOwner: null,
        leaseExpiresAt: null,
        attempts: 1,
        batchId,
        taskOffset: m.offset,
      },
    });
  const { executionName } = await rig.launcher.launch({
    job: jobName,
    args: ['work', '--batch'],
    taskCount: batchTaskCount(content),
    env: {
      [BRIDGE_EXECUTION_ENV.batchId]: batchId,
      [BRIDGE_EXECUTION_ENV.batchDigest]: digest,
      [BRIDGE_EXECUTION_ENV.maxRetries]: jobName === 'batch' ? '1' : '0',
    },
  });
  return { batchId, content, executionName };
}

function executionDone(name: string) {
  return rig.executionDone(name, 90_000);
}

async function taskIds(jobId: string): Promise<string[]> {
  const snap = await db.collection('jobs').doc(jobId).collection('tasks').get();
  return snap.docs.map((d) => d.id).sort((a, b) => Number(a) - Number(b));
}

describe('a batch execution: each task runs its member’s slice', () => {
  it('mixed members (1, 3 and 7 tasks; own args, env, functions): each task sees its own, results land in each member’s documents', async () => {
    const urls = Array.from({ length: 6 }, (_, i) => `${server.baseUrl}/b/${i}`);
    const started = startBatch('batch', [
      {
        requestId: 'mix-a',
        taskCount: 1,
        function: 'echo',
        args: ['--env', 'ECHO_COLOR', '--env', 'ECHO_SIZE', 'alpha'],
        env: { ECHO_COLOR: 'red' },
      },
      { requestId: 'mix-b', taskCount: 3, function: 'fan-out', args: urls },
      {
        requestId: 'mix-c',
        taskCount: 7,
        function: 'echo',
        args: ['--env', 'ECHO_COLOR', '--env', 'ECHO_SIZE', 'gamma'],
        env: { ECHO_SIZE: 'seven' },
      },
    ]);
    // A consumer waiting on one member sees it end as a job of its own.
    const waited = (async () => {
      await started;
      return waitForJob(db, 'mix-c', { timeoutMs: 90_000 });
    })();
    const { executionName, batchId } = await started;
    const execution = await executionDone(executionName);
    expect(execution).toMatchObject({ taskCount: 11, succeededCount: 11, failedCount: 0 });

    const a = await readTask(db, 'mix-a', 0);
    expect(a).toMatchObject({ state: 'succeeded', attempt: 0 });
    expect(a?.result).toEqual({
      args: ['--env', 'ECHO_COLOR', '--env', 'ECHO_SIZE', 'alpha'],
      words: ['alpha'],
      taskIndex: 0,
      taskCount: 1,
      attempt: 0,
      // The member's env over the task's; a name it does not set is the job's, or unset.
      env: { ECHO_COLOR: 'red', ECHO_SIZE: null },
    });

    for (let i = 0; i < 3; i++) {
      const task = await readTask(db, 'mix-b', i);
      expect(task?.state).toBe('succeeded');
      const items = (task?.result as { items: { input: string }[] }).items;
      // fan-out's shard is ctx.shard(args): items i and i + 3 of the member's own 3 tasks.
      expect(items.map((x) => x.input)).toEqual([urls[i], urls[i + 3]]);
    }
    expect(server.fetched.filter((p) => p.startsWith('/b/')).sort()).toEqual(
      urls.map((u) => u.slice(server.baseUrl.length)).sort(),
    );

    for (let i = 0; i < 7; i++) {
      const task = await readTask(db, 'mix-c', i);
      expect(task?.state).toBe('succeeded');
      expect(task?.result).toEqual({
        args: ['--env', 'ECHO_COLOR', '--env', 'ECHO_SIZE', 'gamma'],
        words: ['gamma'],
        taskIndex: i,
        taskCount: 7,
        attempt: 0,
        env: { ECHO_COLOR: 'job-default', ECHO_SIZE: 'seven' },
      });
    }

    // Each member's tasks are its own 0…n-1, nothing at the execution's indexes.
    expect(await taskIds('mix-a')).toEqual(['0']);
    expect(await taskIds('mix-b')).toEqual(['0', '1', '2']);
    expect(await taskIds('mix-c')).toEqual(['0', '1', '2', '3', '4', '5', '6']);
    for (const [id, n] of [
      ['mix-a', 1],
      ['mix-b', 3],
      ['mix-c', 7],
    ] as const) {
      const job = await waitFor('member job ended', async () => {
        const j = await readJob(db, id);
        return j.state === 'succeeded' ? j : undefined;
      });
      expect(job).toMatchObject({
        tasks: { succeeded: n, failed: 0, running: 0 },
        progress: { done: n, total: n, ratio: 1 },
        dispatch: { batchId },
      });
    }
    const final = await waited;
    expect(final.job).toMatchObject({ state: 'succeeded', dispatch: { batchId } });
    expect(final.tasks.map((t) => t.taskIndex)).toEqual([0, 1, 2, 3, 4, 5, 6]);

    const env = cliEnv(projectId);
    const status = await runCli(['status', 'mix-b'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/state\s+succeeded/);
    expect(status.stdout).toMatch(/tasks\s+0 running, 3 succeeded, 0 failed of 3/);
    expect(status.stdout).toContain(`${batchId} (shared execution, its tasks 1…3)`);
    const list = await runCli(['list', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    const listed = JSON.parse(list.stdout) as {
      documentId: string;
      job: { state: string; dispatch: { batchId?: string } };
    }[];
    expect(
      listed
        .filter((l) => l.job.dispatch.batchId === batchId)
        .map((l) => `${l.documentId}:${l.job.state}`)
        .sort(),
    ).toEqual(['mix-a:succeeded', 'mix-b:succeeded', 'mix-c:succeeded']);
  });

  it(
    'one member fails permanently, one is retried by Cloud Run, one is cancelled while the batch runs: the others succeed, each ends in its own state',
    { timeout: 180_000 },
    async () => {
      const { executionName } = await startBatch('batch', [
        {
          requestId: 'fate-permanent',
          taskCount: 1,
          function: 'simulate',
          args: ['--steps', '2', '--step-ms', '10', '--fail-at', '1', '--permanent'],
        },
        {
          requestId: 'fate-retried',
          taskCount: 2,
          function: 'simulate',
          args: ['--steps', '2', '--step-ms', '10', '--fail-at', '1', '--fail-attempts', '1'],
        },
        {
          requestId: 'fate-cancelled',
          taskCount: 2,
          function: 'simulate',
          args: ['--steps', '1200', '--step-ms', '100'],
        },
        { requestId: 'fate-ok', taskCount: 2, function: 'echo', args: ['ok'] },
      ]);
      // Cancel once the member's tasks run: no signal comes (the execution goes on for the others).
      // Seven task processes start at once: on a loaded machine that takes a while.
      await waitFor(
        'the cancelled member running',
        async () => {
          const tasks = await Promise.all([0, 1].map((i) => readTask(db, 'fate-cancelled', i)));
          return tasks.every((t) => t?.state === 'running') || undefined;
        },
        60_000,
      );
      expect(await cancelJob(db, 'fate-cancelled')).toEqual({ outcome: 'requested' });

      const execution = await executionDone(executionName);
      // Cloud Run's view: 7 tasks, every one ended without failing it; one was retried.
      expect(execution).toMatchObject({ taskCount: 7, succeededCount: 7, failedCount: 0 });
      expect(execution.retriedCount).toBeGreaterThanOrEqual(2);
      expect(execution.cancelledCount).toBe(0);

      const ended = async (id: string) =>
        waitFor(`${id} ended`, async () => {
          const j = await readJob(db, id);
          return ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : undefined;
        });
      const permanent = await ended('fate-permanent');
      expect(permanent).toMatchObject({ state: 'failed', error: { code: 'permanent' } });
      expect(permanent.error?.message).toContain('simulated failure at step 1 of 2 (attempt 0)');
      expect(await readTask(db, 'fate-permanent', 0)).toMatchObject({
        state: 'failed',
        attempt: 0,
        willRetry: false,
      });

      expect(await ended('fate-retried')).toMatchObject({
        state: 'succeeded',
        tasks: { succeeded: 2 },
      });
      for (const i of [0, 1])
        expect(await readTask(db, 'fate-retried', i)).toMatchObject({
          state: 'succeeded',
          attempt: 1,
        });

      const cancelled = await ended('fate-cancelled');
      expect(cancelled).toMatchObject({ state: 'cancelled', error: { code: 'cancelled' } });
      for (const i of [0, 1]) {
        const task = await readTask(db, 'fate-cancelled', i);
        expect(task).toMatchObject({
          state: 'failed',
          willRetry: false,
          error: { code: 'cancelled' },
        });
        // Stopped long before its 1,200 steps.
        expect(task?.progress.done).toBeLessThan(1200);
      }

      expect(await ended('fate-ok')).toMatchObject({ state: 'succeeded', tasks: { succeeded: 2 } });
    },
  );

  it('a batch document changed after the start (another member’s args): that task refuses with the reason, nothing runs with the changed args', async () => {
    const { batchId, content, executionName } = await startBatch('batch-serial', [
      {
        requestId: 'tamper-first',
        taskCount: 1,
        function: 'simulate',
        args: ['--steps', '20', '--step-ms', '100'],
      },
      {
        requestId: 'tamper-victim',
        taskCount: 1,
        function: 'fan-out',
        args: [`${server.baseUrl}/tamper/original`],
      },
    ]);
    // Tasks run one at a time: the first has read the document when its task says running; the
    // second has not started.
    await waitFor('the first member running', async () =>
      (await readTask(db, 'tamper-first', 0))?.state === 'running' ? true : undefined,
    );
    const altered = content.members.map((m) =>
      m.requestId === 'tamper-victim' ? { ...m, args: [`${server.baseUrl}/tamper/altered`] } : m,
    );
    await db.collection(BATCH_COLLECTION).doc(batchId).update({ members: altered });

    const execution = await executionDone(executionName);
    expect(execution.taskCount).toBe(2);

    const victim = await readTask(db, 'tamper-victim', 0);
    expect(victim).toMatchObject({
      state: 'failed',
      attempt: 0,
      willRetry: false,
      error: { code: 'batch-mismatch' },
    });
    expect(victim?.error?.message).toContain(
      `batches/${batchId} does not match JOBBRIDGE_BATCH_DIGEST`,
    );
    expect(victim?.error?.message).toContain('nothing was run');
    const victimJob = await waitFor('the victim failed', async () => {
      const j = await readJob(db, 'tamper-victim');
      return j.state === 'failed' ? j : undefined;
    });
    expect(victimJob.error).toMatchObject({ code: 'batch-mismatch' });
    expect(victimJob.error?.message).toContain('does not match JOBBRIDGE_BATCH_DIGEST');
    // fan-out would have fetched its arg: neither the changed one nor the original was fetched.
    expect(server.fetched.filter((p) => p.startsWith('/tamper/'))).toEqual([]);
    expect(rig.log.some((l) => l.includes('refusing to run the batch member'))).toBe(true);
    // The member that read the document before the change ran as started.
    expect(await readJob(db, 'tamper-first')).toMatchObject({ state: 'succeeded' });
  });
});
