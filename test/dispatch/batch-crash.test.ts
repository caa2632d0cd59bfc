import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BATCH_COLLECTION,
  BRIDGE_EXECUTION_ENV,
  DEFAULT_JOB_POLICY,
  jobDocumentId,
  type JobRequest,
} from '../../src/contract/index.ts';
import { RunBudget } from '../../src/dispatch/budget.ts';
import { Drainer } from '../../src/dispatch/drain.ts';
import { MaxRetriesCache } from '../../src/dispatch/launch-request.ts';
import { QueueKnowledge } from '../../src/dispatch/queue-knowledge.ts';
import { CloudRunLauncher, executionEnv } from '../../src/launcher/index.ts';
import { BatchStore } from '../../src/store/batch-store.ts';
import { JobQueue } from '../../src/store/job-queue.ts';
import { JobRepository } from '../../src/store/job-repository.ts';
import { killAllChildren, childBridgeEnv } from '../../bench/lib/child-bridge.ts';
import { startCrashingBridge } from '../bridge/crash-after.ts';
import { JOB, REGION, startRig, type Rig } from '../bridge/rig.ts';
import { emulatorHosts } from '../harness/google.ts';
import { waitFor } from '../../bench/lib/poll.ts';
import { queueRequest } from '../store/rig.ts';

/** Each step of the batch protocol, as the crashing bridge's crash point after which it dies. */
const CRASH_POINTS = {
  'after-claim': 'batches.claimBatch',
  'after-launch': 'launcher.launch',
  'after-record': 'batches.recordBatch',
} as const;
/** The dead bridge's lease: short, so that the takeover comes soon. */
const LEASE_MS = 2000;

type IExecution = Awaited<ReturnType<Rig['executions']>>[number];

describe('batches are crash-safe as one unit: a bridge SIGKILLed at each step of its drain', () => {
  let rig: Rig;
  let queue: JobQueue;
  let launcher: CloudRunLauncher;

  beforeAll(async () => {
    rig = await startRig();
    queue = new JobQueue(rig.firestore, 'jobs');
    launcher = new CloudRunLauncher(rig.run, { project: rig.projectId, region: REGION });
  });
  afterAll(async () => {
    await killAllChildren();
    await rig?.close();
  });

  const survivor = () =>
    new Drainer({
      queue,
      repository: new JobRepository(rig.firestore, 'jobs'),
      launcher,
      budget: new RunBudget({
        runJobPerMinute: 100_000,
        runJobBurst: 1000,
        maxConcurrentLaunches: 8,
      }),
      maxRetries: new MaxRetriesCache(launcher),
      jobs: new Set([JOB]),
      policies: new Map([[JOB, DEFAULT_JOB_POLICY]]),
      leaseMs: 60_000,
      keyConcurrency: 0,
      knowledge: new QueueKnowledge(),
      batches: new BatchStore(rig.firestore, 'jobs'),
      batchMaxRequests: 3,
      retentionMs: 86_400_000,
    });

  const doc = async (r: JobRequest) => rig.jobDoc(jobDocumentId(r.requestId ?? ''));

  /** Every execution that runs `r`: its own, or a batch's whose document lists it. */
  const slicesOf = async (r: JobRequest, executions: IExecution[]) => {
    const out: IExecution[] = [];
    for (const e of executions) {
      if (executionEnv(e)[BRIDGE_EXECUTION_ENV.requestId] === r.requestId) out.push(e);
      const batchId = executionEnv(e)[BRIDGE_EXECUTION_ENV.batchId];
      if (typeof batchId !== 'string') continue;
      const batch = (await rig.firestore.collection(BATCH_COLLECTION).doc(batchId).get()).data();
      const members = (batch?.members ?? []) as { requestId: string }[];
      if (members.some((m) => m.requestId === r.requestId)) out.push(e);
    }
    return out;
  };

  for (const [at, point] of Object.entries(CRASH_POINTS)) {
    it(`killed ${at} (${point}): a later drainer adopts or starts the batch; every member runs exactly one slice`, async () => {
      // A job name of this test alone, so that the executions counted are this test's.
      const requests = Array.from({ length: 7 }, (_, i) => ({
        schemaVersion: 1 as const,
        requestId: `crash-${at}-${randomUUID()}`,
        job: JOB,
        function: 'report',
        args: [`n${i}`],
        taskCount: 1 + (i % 3),
      }));
      const base = Date.now() - 60_000;
      for (const [i, r] of requests.entries())
        await queueRequest(queue, r, { now: new Date(base + i) });
      const before = new Set((await rig.executions()).map((e) => e.name));

      const site = {
        projectId: rig.projectId,
        region: REGION,
        jobs: JOB,
        firestoreHost: emulatorHosts().firestore,
        cloudRunHost: rig.emulator.host,
      };
      const bridge = await startCrashingBridge(
        childBridgeEnv(site, {
          JOBBRIDGE_LEASE_MS: String(LEASE_MS),
          JOBBRIDGE_BUDGET_MS: '1000',
          JOBBRIDGE_BATCH_MAX_REQUESTS: '3',
        }),
        [point],
      );
      // Cloud Scheduler's call: a reconcile pass, then the drain, which dies at the crash point.
      await expect(
        fetch(`${bridge.url}/reconcile`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ drainForMs: 10_000 }),
        }),
      ).rejects.toThrow();
      expect(await bridge.exited, bridge.stderr()).toEqual({ code: null, signal: 'SIGKILL' });

      const first = requests.slice(0, 3);
      const fresh = async () => (await rig.executions()).filter((e) => !before.has(e.name));
      const firstBatchId = String(
        ((await doc(first[0] as JobRequest))?.dispatch as { batchId?: string }).batchId,
      );
      const batch = (
        await rig.firestore.collection(BATCH_COLLECTION).doc(firstBatchId).get()
      ).data();
      expect(batch?.state).toBe(at === 'after-record' ? 'dispatched' : 'dispatching');
      expect(await fresh()).toHaveLength(at === 'after-claim' ? 0 : 1);
      for (const r of first)
        expect((await doc(r))?.dispatch).toMatchObject({ batchId: firstBatchId });
      // Nothing past the fault point happened: the rest still waits in the queue.
      for (const r of requests.slice(3)) expect((await doc(r))?.state).toBe('queued');

      await waitFor(
        'every member dispatched by the surviving drainer',
        async () => {
          await survivor().drain(Date.now() + 10_000);
          const states = await Promise.all(requests.map(async (r) => (await doc(r))?.state));
          return states.every((s) => s === 'dispatched') ? true : undefined;
        },
        30_000,
      );

      const executions = await fresh();
      for (const r of requests) {
        const slices = await slicesOf(r, executions);
        expect(
          slices.map((e) => e.name),
          r.requestId,
        ).toHaveLength(1);
        const d = await doc(r);
        expect(d?.dispatch).toMatchObject({ executionName: slices[0]?.name });
      }
      // The batch the dead drainer started was adopted, not started again.
      if (at === 'after-launch')
        for (const r of first)
          expect((await doc(r))?.dispatch).toMatchObject({ adopted: true, batchId: firstBatchId });
      // The batch it only claimed was given back and started afresh: its document is gone.
      if (at === 'after-claim') {
        const gone = await rig.firestore.collection(BATCH_COLLECTION).doc(firstBatchId).get();
        expect(gone.exists).toBe(false);
      }
      // 7 requests in batches of at most 3: 3 + 3 + 1, the last on its own.
      expect(executions).toHaveLength(3);
    });
  }
});
