import { randomUUID } from 'node:crypto';
import { FieldValue } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAck, OUTCOMES } from '../../src/errors/outcomes.ts';
import { BRIDGE_EXECUTION_ENV, jobDocumentId } from '../../src/contract/index.ts';
import { RunBudget } from '../../src/dispatch/budget.ts';
import { newOpCount } from '../../src/store/job-ops.ts';
import { JobRepository } from '../../src/store/job-repository.ts';
import { slicesPerRequest } from '../../bench/lib/slices.ts';
import { envelope, eventually, jobRequest, startRig, type Rig } from './rig.ts';
import { executionEnv } from '../../src/launcher/index.ts';

const LIMITS = {
  runJobPerMinute: 600, // 10 per second
  runJobBurst: 4,
  maxConcurrentLaunches: 3,
  keyConcurrency: 0,
};
const REQUESTS = 40;

const toOutcome = async (answer: ReturnType<Rig['push']>) => ({
  ...(await answer),
  code: 'internal' as const,
  reason: '',
});

const status = (code: keyof typeof OUTCOMES) => OUTCOMES[code].status;

describe('a burst past the budget is queued, never bounced', () => {
  let rig: Rig;
  const budget = new RunBudget(LIMITS);
  beforeAll(async () => {
    rig = await startRig({ faults: { runJobLatencyMs: 150 }, limits: LIMITS, budget });
    // A bridge already serving: its clients are connected (a cold first call takes seconds here).
    const warm = envelope(jobRequest());
    await eventually(async () => (isAck(await toOutcome(rig.push(warm))) ? true : undefined));
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('every delivery is acked on its first try; invalid ones are rejected; drains start each valid one once', async () => {
    const valid = Array.from({ length: REQUESTS }, () => jobRequest({ function: 'report' }));
    const invalid = [
      jobRequest({ taskCount: 0 }),
      jobRequest({ job: 'not-allowed' }),
      jobRequest({ env: { NODE_OPTIONS: '--inspect' } }),
    ];
    const bodies = [...valid, ...invalid].map((r) => envelope(r));
    // A third of the valid messages are delivered twice, as Pub/Sub may; all at once.
    const deliveries = [...bodies, ...bodies.filter((_, i) => i < REQUESTS && i % 3 === 0)];
    const answers = await Promise.all(deliveries.map((b) => rig.push(b)));
    const acked = (a: (typeof answers)[number]) => isAck({ ...a, code: 'internal', reason: '' });
    for (const [i, a] of answers.entries()) {
      expect(a.status, JSON.stringify(a.body)).not.toBe(429);
      expect(['dispatched', 'queued', 'duplicate', 'adopted', 'in-progress']).toContain(
        a.body.outcome.startsWith('rejected:') ? 'dispatched' : a.body.outcome,
      );
      // Only a message delivered twice at the same moment may meet its own live lease (409):
      // then the other delivery of it was acked.
      if (!acked(a)) {
        const body = deliveries[i];
        const twins = answers.filter((_, j) => deliveries[j] === body);
        expect(twins.length, JSON.stringify(a.body)).toBe(2);
        expect(twins.some(acked)).toBe(true);
      }
    }
    const queued = answers.filter((a) => a.body.outcome === 'queued');
    expect(queued.length).toBeGreaterThan(0);
    for (const a of queued) {
      expect(a.status).toBe(200);
      expect(a.body.reason).toBe('runjob-rate');
    }
    for (const r of invalid) {
      const doc = await rig.jobDoc(jobDocumentId(r.requestId as string));
      expect(doc?.state, JSON.stringify(doc)).toBe('rejected');
    }

    // What Cloud Scheduler calls every minute, until the queue is empty.
    await eventually(
      async () => {
        const res = await rig.app.inject({
          method: 'POST',
          url: '/reconcile',
          payload: { drainForMs: 5000 },
        });
        const { drain } = res.json<{ drain: { queueDepth: number } }>();
        return drain.queueDepth === 0 ? true : undefined;
      },
      60_000,
      'the queue drained',
    );

    const executions = await rig.executions();
    // Queued requests may start in batches: each one runs exactly one slice, its own execution
    // or a member's share of a batch's.
    const { perRequest } = await slicesPerRequest(rig.firestore, executions);
    for (const r of valid) {
      const requestId = r.requestId as string;
      expect(perRequest.get(requestId), requestId).toBe(1);
      const doc = await rig.jobDoc(jobDocumentId(requestId));
      expect(doc?.state).toBe('dispatched');
      expect(doc?.pendingRequest).toBeUndefined();
    }
    // The warm-up request and every valid one, one slice each, in one RunJob call per execution.
    expect([...perRequest.values()].reduce((n, k) => n + k, 0)).toBe(REQUESTS + 1);
    expect(executions.length).toBeLessThanOrEqual(REQUESTS + 1);

    const gauge = budget.gauge();
    expect(gauge.maxInFlight).toBeLessThanOrEqual(LIMITS.maxConcurrentLaunches);
    expect(gauge.inFlight).toBe(0);
    expect(gauge.launched).toBe(executions.length);
    const res = await rig.app.inject({ method: 'GET', url: '/limitz' });
    expect(res.json()).toMatchObject({
      limits: LIMITS,
      budget: { inFlight: 0, launched: executions.length },
      queue: { depth: 0, oldestQueuedAgeMs: null },
    });
  });
});

describe('cancel before dispatch, on a takeover', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('a dispatching job whose holder died and whose cancel was asked for is never launched', async () => {
    const request = jobRequest();
    const requestId = request.requestId as string;
    const docId = jobDocumentId(requestId);
    // A delivery claimed it (the real claim) and died: its lease is already over.
    const repository = new JobRepository(rig.firestore, 'jobs');
    const claim = await repository.claim(
      {
        docId,
        requestId,
        request: { schemaVersion: 1, requestId, job: request.job as string },
        source: { messageId: randomUUID() },
        owner: 'dead-delivery',
        now: new Date(Date.now() - 120_000),
        leaseMs: 1000,
        retentionMs: 86_400_000,
      },
      newOpCount(),
    );
    expect(claim.kind).toBe('claimed');
    // `jobbridge cancel` writes just this.
    await rig.firestore
      .collection('jobs')
      .doc(docId)
      .update({ cancelRequested: true, updatedAt: FieldValue.serverTimestamp() });

    const res = await rig.push(envelope(request));
    expect(res).toMatchObject({ status: status('cancelled'), body: { outcome: 'cancelled' } });
    const doc = await rig.jobDoc(docId);
    expect(doc?.state).toBe('cancelled');
    expect(doc?.finishedAt).toBeDefined();
    const again = await rig.push(envelope(request));
    expect(again.body.outcome).toBe('duplicate');
    const executions = await rig.executions();
    expect(
      executions.filter((e) => executionEnv(e)[BRIDGE_EXECUTION_ENV.requestId] === requestId),
    ).toEqual([]);
  });
});
