import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelJob } from '../../src/consumer/index.ts';
import { DEFAULT_JOB_POLICY, jobDocumentId, type JobRequest } from '../../src/contract/index.ts';
import { RunBudget } from '../../src/dispatch/budget.ts';
import { Drainer } from '../../src/dispatch/drain.ts';
import { MaxRetriesCache } from '../../src/dispatch/launch-request.ts';
import { QueueKnowledge } from '../../src/dispatch/queue-knowledge.ts';
import { startRunEmulator, type StartedRunEmulator } from '../../src/emulator/index.ts';
import { CloudRunLauncher, createRunClients, type RunClients } from '../../src/launcher/index.ts';
import { reconcile } from '../../src/reconciler/index.ts';
import { BatchStore } from '../../src/store/batch-store.ts';
import { JobQueue } from '../../src/store/job-queue.ts';
import { JobRepository } from '../../src/store/job-repository.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { COLLECTION, readJob, waitFor } from './rig.ts';
import { queueRequest } from '../store/rig.ts';

const REGION = 'asia-northeast1';
/** Task 3 of every execution of this job is SIGKILLed; the others exit 0. */
const KILL_JOB = 'batch-kill';
/** Its command does not exist: the execution fails as a whole, no task starts. */
const BROKEN_JOB = 'batch-broken';
/** Every task runs until it is cancelled. */
const SLEEP_JOB = 'batch-sleep';

describe('the reconciler finishes batch members from Cloud Run, task by task', () => {
  const projectId = testProjectId('batch-reconcile');
  let firestore: Firestore;
  let emulator: StartedRunEmulator;
  let run: RunClients;
  let launcher: CloudRunLauncher;

  beforeAll(async () => {
    firestore = testFirestore(projectId);
    emulator = await startRunEmulator({
      jobs: {
        jobs: {
          [KILL_JOB]: {
            command: ['/bin/sh', '-c', 'if [ "$CLOUD_RUN_TASK_INDEX" = 3 ]; then kill -9 $$; fi'],
            maxRetries: 0,
          },
          [BROKEN_JOB]: { command: ['/nonexistent/jobbridge'], maxRetries: 0 },
          [SLEEP_JOB]: { command: ['/bin/sh', '-c', 'sleep 120'], maxRetries: 0 },
        },
      },
      log: () => {},
    });
    run = createRunClients({ emulatorHost: emulator.host, projectId });
    launcher = new CloudRunLauncher(run, { project: projectId, region: REGION });
  });
  afterAll(async () => {
    await run?.close();
    await emulator?.stop();
    await firestore?.terminate();
  });

  const jobs = [KILL_JOB, BROKEN_JOB, SLEEP_JOB];
  const drain = () =>
    new Drainer({
      queue: new JobQueue(firestore, COLLECTION),
      repository: new JobRepository(firestore, COLLECTION),
      launcher,
      budget: new RunBudget({
        runJobPerMinute: 100_000,
        runJobBurst: 100,
        maxConcurrentLaunches: 8,
      }),
      maxRetries: new MaxRetriesCache(launcher),
      jobs: new Set(jobs),
      policies: new Map(jobs.map((j) => [j, DEFAULT_JOB_POLICY])),
      leaseMs: 60_000,
      keyConcurrency: 0,
      knowledge: new QueueKnowledge(),
      batches: new BatchStore(firestore, COLLECTION),
      batchMaxRequests: 10,
      retentionMs: 86_400_000,
    }).drain(Date.now() + 20_000);
  const pass = () =>
    reconcile({ firestore, collection: COLLECTION, launcher }, { staleAfterMs: 0 });

  /** Queues members of `job` with these task counts and starts them as one batch. */
  const batchOf = async (job: string, taskCounts: number[]) => {
    const members: JobRequest[] = taskCounts.map((taskCount, i) => ({
      schemaVersion: 1,
      requestId: `${job}-${randomUUID()}`,
      job,
      function: 'report',
      args: [`m${i}`],
      taskCount,
    }));
    const base = Date.now() - 60_000;
    const queue = new JobQueue(firestore, COLLECTION);
    for (const [i, r] of members.entries())
      await queueRequest(queue, r, { now: new Date(base + i) });
    expect(await drain()).toMatchObject({ batches: 1, started: members.length });
    const ids = members.map((r) => jobDocumentId(r.requestId ?? ''));
    const docs = await Promise.all(ids.map((id) => readJob(firestore, id)));
    const executionName = String((docs[0]?.dispatch as { executionName: string }).executionName);
    for (const d of docs) expect(d.dispatch).toMatchObject({ executionName });
    return { ids, executionName };
  };
  const ended = (executionName: string) =>
    waitFor(
      `execution ${executionName} to end`,
      async () => {
        const e = await launcher.getExecution(executionName);
        return e.done ? e : undefined;
      },
      60_000,
    );
  const taskDoc = async (docId: string, index: number) =>
    (
      await firestore.collection(COLLECTION).doc(docId).collection('tasks').doc(String(index)).get()
    ).data();

  it('a killed task fails only the member that owns its index; the others succeed', async () => {
    // Offsets 0, 2, 5: execution task 3 is the second member's task 1.
    const { ids, executionName } = await batchOf(KILL_JOB, [2, 3, 1]);
    const execution = await ended(executionName);
    expect(execution).toMatchObject({ taskCount: 6, failedCount: 1, succeededCount: 5 });
    const result = await pass();
    const byDoc = new Map(result.actions.map((a) => [a.docId, a]));
    expect(byDoc.get(ids[0] ?? '')?.action).toBe('succeeded');
    expect(byDoc.get(ids[1] ?? '')).toMatchObject({ action: 'failed', reason: 'killed' });
    expect(byDoc.get(ids[2] ?? '')?.action).toBe('succeeded');
    const [first, second, third] = await Promise.all(ids.map((id) => readJob(firestore, id)));
    expect(first).toMatchObject({ state: 'succeeded', tasks: { succeeded: 2, failed: 0 } });
    expect(third).toMatchObject({ state: 'succeeded', tasks: { succeeded: 1, failed: 0 } });
    expect(second).toMatchObject({ state: 'failed', tasks: { succeeded: 2, failed: 1 } });
    expect(String((second?.error as { message: string }).message)).toContain('task 1');
    // Its task documents, by the member's own index: 1 failed, 0 and 2 succeeded.
    expect(await taskDoc(ids[1] ?? '', 1)).toMatchObject({
      state: 'failed',
      endedBy: 'reconciler',
    });
    expect(await taskDoc(ids[1] ?? '', 0)).toMatchObject({ state: 'succeeded' });
    expect(await taskDoc(ids[1] ?? '', 2)).toMatchObject({ state: 'succeeded' });
    expect(await taskDoc(ids[1] ?? '', 3)).toBeUndefined();
  });

  it('an execution that fails as a whole, no worker having written, marks each member failed', async () => {
    const { ids, executionName } = await batchOf(BROKEN_JOB, [1, 2]);
    await ended(executionName);
    const result = await pass();
    for (const id of ids) {
      expect(result.actions.find((a) => a.docId === id)).toMatchObject({
        action: 'failed',
        reason: 'start-failed',
      });
      expect(await readJob(firestore, id)).toMatchObject({ state: 'failed' });
    }
  });

  it('a cancelled member leaves the execution running for the others; when every member is cancelled, so is the execution', async () => {
    const { ids, executionName } = await batchOf(SLEEP_JOB, [1, 2]);
    const [a, b] = ids as [string, string];
    await waitFor(
      'the tasks to run',
      async () =>
        (await launcher.getExecution(executionName)).runningCount === 3 ? true : undefined,
      30_000,
    );
    expect((await cancelJob(firestore, a)).outcome).toBe('requested');
    const first = await pass();
    expect(first.actions.find((x) => x.docId === a)).toMatchObject({ action: 'waiting' });
    const still = await launcher.getExecution(executionName);
    expect(still.done).toBe(false);
    expect(still.cancelledCount).toBe(0);

    expect((await cancelJob(firestore, b)).outcome).toBe('requested');
    const second = await pass();
    expect(
      second.actions
        .filter((x) => x.action === 'cancel-sent')
        .map((x) => x.docId)
        .sort(),
    ).toEqual([a, b].sort());
    await ended(executionName);
    const third = await pass();
    for (const id of ids) {
      expect(third.actions.find((x) => x.docId === id)?.action).toBe('cancelled');
      expect(await readJob(firestore, id)).toMatchObject({ state: 'cancelled' });
    }
  });
});
