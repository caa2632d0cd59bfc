import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaxRetriesCache } from '../../src/dispatch/index.ts';
import { cancelJob } from '../../src/consumer/index.ts';
import {
  BRIDGE_EXECUTION_ENV,
  DEFAULT_JOB_POLICY,
  jobDocumentId,
  type JobRequest,
} from '../../src/contract/index.ts';
import { RunBudget } from '../../src/dispatch/budget.ts';
import { Drainer, fairOrder } from '../../src/dispatch/drain.ts';
import { QueueKnowledge } from '../../src/dispatch/queue-knowledge.ts';
import { CloudRunLauncher, executionEnv } from '../../src/launcher/index.ts';
import { newOpCount } from '../../src/store/job-ops.ts';
import { JobRepository } from '../../src/store/job-repository.ts';
import { JobQueue, type QueueEntry } from '../../src/store/job-queue.ts';
import { JOB, REGION, startRig, type Rig } from '../bridge/rig.ts';
import { claimInput, queueRequest } from '../store/rig.ts';

const GENEROUS = { runJobPerMinute: 100_000, runJobBurst: 1000, maxConcurrentLaunches: 50 };

describe('the drain: many drainers, abandoned admissions, cancels', () => {
  let rig: Rig;
  let queue: JobQueue;
  let repository: JobRepository;
  let launcher: CloudRunLauncher;

  beforeAll(async () => {
    rig = await startRig();
    queue = new JobQueue(rig.firestore, 'jobs');
    repository = new JobRepository(rig.firestore, 'jobs');
    launcher = new CloudRunLauncher(rig.run, { project: rig.projectId, region: REGION });
  });
  afterAll(async () => {
    await rig?.close();
  });

  /** One bridge instance's drainer: its own budget and knowledge, the shared Firestore. */
  const drainer = () =>
    new Drainer({
      queue,
      repository,
      launcher,
      budget: new RunBudget(GENEROUS),
      maxRetries: new MaxRetriesCache(launcher),
      jobs: new Set([JOB]),
      // The policy a bridge that admitted these requests would have had (env SECRET allowed).
      policies: new Map([[JOB, { ...DEFAULT_JOB_POLICY, env: ['SECRET'] }]]),
      leaseMs: 60_000,
      keyConcurrency: 0,
      knowledge: new QueueKnowledge(),
      pageSize: 7,
    });

  const request = (extra: Partial<JobRequest> = {}): JobRequest => ({
    schemaVersion: 1,
    requestId: `drain-${randomUUID()}`,
    job: JOB,
    function: 'report',
    ...extra,
  });
  const queueUp = (r: JobRequest) => queueRequest(queue, r);
  const executionsOf = async (requestId: string) =>
    (await rig.executions()).filter(
      (e) => executionEnv(e)[BRIDGE_EXECUTION_ENV.requestId] === requestId,
    );

  it('four drainers at once start each of 30 queued requests exactly once; a cancelled one never', async () => {
    const requests = Array.from({ length: 30 }, (_, i) =>
      request({ args: [`n${i}`], ...(i % 5 === 0 ? { env: { SECRET: `s3cret-${i}` } } : {}) }),
    );
    for (const r of requests) await queueUp(r);
    const cancelled = requests[3] as JobRequest;
    expect((await cancelJob(rig.firestore, cancelled.requestId ?? '')).outcome).toBe('requested');

    const deadline = Date.now() + 30_000;
    const results = await Promise.all(
      [drainer(), drainer(), drainer(), drainer()].map((d) => d.drain(deadline)),
    );
    const total = (k: 'started' | 'cancelled') => results.reduce((n, r) => n + r[k], 0);
    expect(total('started')).toBe(29);
    expect(total('cancelled')).toBe(1);
    // Every one of them found some of the work: they really ran side by side.
    expect(results.filter((r) => r.started > 0).length).toBeGreaterThan(1);
    for (const r of requests) {
      const id = r.requestId ?? '';
      const doc = await rig.jobDoc(jobDocumentId(id));
      const runs = await executionsOf(id);
      if (r === cancelled) {
        expect(doc?.state).toBe('cancelled');
        expect(runs).toHaveLength(0);
        continue;
      }
      expect(doc?.state).toBe('dispatched');
      expect(doc?.pendingRequest).toBeUndefined();
      expect(runs, id).toHaveLength(1);
      if (r.env) expect(executionEnv(runs[0] ?? {}).SECRET).toBe(r.env.SECRET);
      expect(runs[0]?.template?.containers?.[0]?.args).toEqual([
        'work',
        'report',
        ...(r.args ?? []),
      ]);
    }
    expect((await queue.depth()).depth).toBe(0);
  });

  it('takes over an admission whose bridge died: adopts its execution, or starts it once', async () => {
    const past = new Date(Date.now() - 120_000);
    // Two deliveries claimed their requests and died, leases long over; one had called RunJob.
    const started = request();
    const unstarted = request();
    for (const r of [started, unstarted]) {
      const claim = await repository.claim(
        claimInput(r, { now: past, leaseMs: 1000 }),
        newOpCount(),
      );
      expect(claim.kind).toBe('claimed');
    }
    const launched = await launcher.launch({
      job: JOB,
      env: { [BRIDGE_EXECUTION_ENV.requestId]: started.requestId ?? '' },
    });
    const result = await drainer().drain(Date.now() + 20_000);
    expect(result).toMatchObject({ adopted: 1, started: 1 });
    const adopted = await rig.jobDoc(jobDocumentId(started.requestId ?? ''));
    expect(adopted?.state).toBe('dispatched');
    expect(adopted?.dispatch).toMatchObject({
      executionName: launched.executionName,
      adopted: true,
    });
    expect(await executionsOf(started.requestId ?? '')).toHaveLength(1);
    expect(await executionsOf(unstarted.requestId ?? '')).toHaveLength(1);
    expect((await rig.jobDoc(jobDocumentId(unstarted.requestId ?? '')))?.state).toBe('dispatched');
  });

  it('a stored request that no longer passes validation ends failed, naming why, and never runs', async () => {
    const r = request();
    await queueUp(r);
    // Code that can write Firestore must not start what a publisher could not.
    await rig.firestore
      .collection('jobs')
      .doc(jobDocumentId(r.requestId ?? ''))
      .update({ pendingRequest: JSON.stringify({ ...r, env: { NODE_OPTIONS: '--inspect' } }) });
    const result = await drainer().drain(Date.now() + 10_000);
    expect(result).toMatchObject({ failed: 1, started: 0 });
    const doc = await rig.jobDoc(jobDocumentId(r.requestId ?? ''));
    expect(doc?.state).toBe('failed');
    expect(doc?.error).toMatchObject({ code: 'invalid-stored-request' });
    expect(String((doc?.error as { message: string }).message)).toContain('env.NODE_OPTIONS');
    expect(await executionsOf(r.requestId ?? '')).toHaveLength(0);
  });

  it('orders by job round-robin, oldest first within each job', () => {
    const entry = (job: string, n: number) => ({ job, docId: `${job}${n}` }) as QueueEntry;
    const order = fairOrder([
      entry('a', 1),
      entry('a', 2),
      entry('a', 3),
      entry('b', 1),
      entry('c', 1),
      entry('b', 2),
    ]).map((e) => e.docId);
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  });
});
