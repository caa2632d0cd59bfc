import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_JOB_POLICY, jobDocumentId, type JobRequest } from '../../src/contract/index.ts';
import { RunBudget } from '../../src/dispatch/budget.ts';
import { Drainer } from '../../src/dispatch/drain.ts';
import { MaxRetriesCache } from '../../src/dispatch/launch-request.ts';
import { QueueKnowledge } from '../../src/dispatch/queue-knowledge.ts';
import { CloudRunLauncher } from '../../src/launcher/index.ts';
import { BatchStore } from '../../src/store/batch-store.ts';
import { newOpCount } from '../../src/store/job-ops.ts';
import { JobQueue } from '../../src/store/job-queue.ts';
import { JobRepository } from '../../src/store/job-repository.ts';
import { JOB, REGION, startRig, type Rig } from '../bridge/rig.ts';

/**
 * How a drain meets an empty RunJob budget. The budget runs on a clock the test moves, so "the
 * budget has room again" happens exactly when the test says, whatever the machine's load.
 */
describe('the drain and the RunJob budget', () => {
  let rig: Rig;
  let launcher: CloudRunLauncher;

  beforeAll(async () => {
    rig = await startRig();
    launcher = new CloudRunLauncher(rig.run, { project: rig.projectId, region: REGION });
  });
  afterAll(async () => {
    await rig?.close();
  });

  /** A fresh collection, a budget whose only token is spent, a drainer that batches up to 10. */
  const setup = () => {
    const collection = `drain-budget-${randomUUID().slice(0, 8)}`;
    const queue = new JobQueue(rig.firestore, collection);
    let clockMs = 0;
    const budget = new RunBudget({
      runJobPerMinute: 60,
      runJobBurst: 1,
      maxConcurrentLaunches: 10,
      nowMs: () => clockMs,
    });
    const spent = budget.tryTake();
    if (!spent.ok) throw new Error('the budget should start with one token');
    spent.launched();
    const knowledge = new QueueKnowledge();
    const drainer = new Drainer({
      queue,
      repository: new JobRepository(rig.firestore, collection),
      launcher,
      budget,
      maxRetries: new MaxRetriesCache(launcher),
      jobs: new Set([JOB]),
      policies: new Map([[JOB, DEFAULT_JOB_POLICY]]),
      leaseMs: 60_000,
      keyConcurrency: 0,
      knowledge,
      batches: new BatchStore(rig.firestore, collection),
      batchMaxRequests: 10,
      retentionMs: 86_400_000,
    });
    let order = Date.now() - 60_000;
    const queueUp = async (n: number): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const requestId = `drain-budget-${randomUUID()}`;
        const request: JobRequest = { schemaVersion: 1, requestId, job: JOB, function: 'report' };
        const input = {
          docId: jobDocumentId(requestId),
          requestId,
          request,
          source: { messageId: randomUUID() },
          owner: randomUUID(),
          now: new Date(order++),
          leaseMs: 60_000,
          retentionMs: 86_400_000,
        };
        expect((await queue.admitQueued(input, 'runjob-rate', newOpCount())).kind).toBe('queued');
        knowledge.add(JOB);
        ids.push(requestId);
      }
      return ids;
    };
    const batchOf = async (requestId: string) => {
      const snap = await rig.firestore.collection(collection).doc(jobDocumentId(requestId)).get();
      return (snap.get('dispatch') as { batchId?: string } | undefined)?.batchId;
    };
    return { drainer, queueUp, batchOf, refill: () => void (clockMs += 1000) };
  };

  it('waits for room before it reads the queue: what is queued during the wait joins the batch', async () => {
    const { drainer, queueUp, batchOf, refill } = setup();
    const early = await queueUp(3);
    const drained = drainer.drain(Date.now() + 30_000);
    // Queued while the drain waits for the budget: read with the rest once there is room.
    const late = await queueUp(3);
    refill();
    const result = await drained;
    expect(result).toMatchObject({ started: 6, batches: 1, failed: 0 });
    const batchIds = new Set(await Promise.all([...early, ...late].map(batchOf)));
    expect(batchIds.size).toBe(1);
    expect([...batchIds][0]).toEqual(expect.any(String));
  });

  it('a drain that may not wait stops at once when the budget has no room, starting nothing', async () => {
    const { drainer, queueUp } = setup();
    await queueUp(2);
    const result = await drainer.drain(Date.now() + 20_000, { wait: false });
    expect(result).toMatchObject({ started: 0, stoppedBy: 'budget', queueDepth: 2 });
  });

  it('a waiting drain called during one that may not wait runs after it, instead of sharing its result', async () => {
    const { drainer, queueUp, refill } = setup();
    await queueUp(4);
    const quick = drainer.drain(Date.now() + 20_000, { wait: false });
    const patient = drainer.drain(Date.now() + 30_000);
    expect(await quick).toMatchObject({ started: 0, stoppedBy: 'budget' });
    refill();
    expect(await patient).toMatchObject({ started: 4, batches: 1, queueDepth: 0 });
  });
});
