import { randomUUID } from 'node:crypto';
import { FieldValue } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LaunchLimiter } from '../../src/dispatch/limiter.ts';
import { isAck, OUTCOMES } from '../../src/errors/outcomes.ts';
import { BRIDGE_EXECUTION_ENV, jobDocumentId } from '../../src/contract/index.ts';
import { newOpCount } from '../../src/store/job-ops.ts';
import { JobRepository } from '../../src/store/job-repository.ts';
import { envelope, jobRequest, startRig, type Rig } from './rig.ts';

const LIMITS = {
  runJobPerMinute: 600, // 10 per second
  runJobBurst: 4,
  maxConcurrentLaunches: 3,
  keyConcurrency: 0,
};
const REQUESTS = 50;
/** 5× the configured rate: 50 per second. */
const SEND_INTERVAL_MS = 60_000 / LIMITS.runJobPerMinute / 5;

function envOf(execution: {
  template?: {
    containers?: { env?: { name?: string | null; value?: string | null }[] | null }[] | null;
  } | null;
}): Record<string, string> {
  return Object.fromEntries(
    (execution.template?.containers?.[0]?.env ?? []).map((e) => [e.name ?? '', e.value ?? '']),
  );
}

const status = (code: keyof typeof OUTCOMES) => OUTCOMES[code].status;

describe('backpressure with RunJob latency injected', () => {
  let rig: Rig;
  const limiter = new LaunchLimiter(LIMITS);
  beforeAll(async () => {
    rig = await startRig({ faults: { runJobLatencyMs: 150 }, limits: LIMITS, limiter });
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('at 5x the rate answers 429 rate-limited, and redelivery runs every request exactly once', async () => {
    const bodies = Array.from({ length: REQUESTS }, () => envelope(jobRequest()));
    // A third of the messages are delivered twice, as Pub/Sub may.
    const deliveries = [...bodies, ...bodies.filter((_, i) => i % 3 === 0)];
    const first: Promise<{ status: number; body: { outcome: string } }>[] = [];
    for (const body of deliveries) {
      first.push(rig.push(body));
      await new Promise((r) => setTimeout(r, SEND_INTERVAL_MS));
    }
    const answers = await Promise.all(first);
    const limited = answers.filter((a) => a.body.outcome === 'rate-limited');
    expect(limited.length).toBeGreaterThan(0);
    for (const a of limited) expect(a.status).toBe(429);
    const seen = new Set(answers.map((a) => a.body.outcome));
    for (const o of seen)
      expect(['dispatched', 'duplicate', 'in-progress', 'rate-limited']).toContain(o);

    // Redeliver every message not acked, as Pub/Sub's backoff would, until all are acked.
    let pending = bodies.filter((_, i) => !isAck({ ...answers[i]!, code: 'internal', reason: '' }));
    const deadline = Date.now() + 45_000;
    let rounds = 0;
    while (pending.length > 0) {
      if (Date.now() > deadline) throw new Error(`${pending.length} messages never acked`);
      await new Promise((r) => setTimeout(r, 250)); // the subscription's backoff
      const again = await Promise.all(pending.map((b) => rig.push(b)));
      for (const a of again) expect([201, 200, 409, 429]).toContain(a.status);
      pending = pending.filter((_, i) => !isAck({ ...again[i]!, code: 'internal', reason: '' }));
      rounds++;
    }
    expect(rounds).toBeGreaterThan(0);

    // Exactly one execution per request id, none missing, none twice.
    const executions = await rig.executions();
    const perRequest = new Map<string, number>();
    for (const e of executions) {
      const id = envOf(e)[BRIDGE_EXECUTION_ENV.requestId];
      if (id !== undefined) perRequest.set(id, (perRequest.get(id) ?? 0) + 1);
    }
    const ids = bodies.map(
      (b) =>
        JSON.parse(Buffer.from((b.message as { data: string }).data, 'base64').toString()) as {
          requestId: string;
        },
    );
    for (const { requestId } of ids) {
      expect(perRequest.get(requestId), requestId).toBe(1);
      expect((await rig.jobDoc(jobDocumentId(requestId)))?.state).toBe('dispatched');
    }
    expect(executions.length).toBe(REQUESTS);

    const gauge = limiter.gauge();
    expect(gauge.maxInFlight).toBeLessThanOrEqual(LIMITS.maxConcurrentLaunches);
    expect(gauge.maxInFlight).toBeGreaterThan(1);
    expect(gauge.inFlight).toBe(0);
    expect(gauge.refusedRate + gauge.refusedConcurrency).toBe(
      rig.logLines.filter((l) => l.includes('"outcome":"rate-limited"')).length,
    );
    const res = await rig.app.inject({ method: 'GET', url: '/limitz' });
    expect(res.json()).toMatchObject({
      inFlight: 0,
      maxInFlight: gauge.maxInFlight,
      limits: LIMITS,
    });
  });

  it('refuses before claiming: a 429 leaves no job document behind', async () => {
    // Every slot taken, as by dispatches stuck on a slow RunJob.
    const held = Array.from({ length: LIMITS.maxConcurrentLaunches }, () => limiter.tryAcquire());
    const request = jobRequest();
    try {
      const res = await rig.push(envelope(request));
      expect(res.status).toBe(status('rate-limited'));
      expect(res.body).toMatchObject({ outcome: 'rate-limited', limit: 'concurrency' });
      expect(await rig.jobDoc(jobDocumentId(request.requestId as string))).toBeUndefined();
    } finally {
      for (const a of held) if (a.ok) a.permit.release(false);
    }
    const res = await rig.push(envelope(request));
    expect(res).toMatchObject({ status: 201, body: { outcome: 'dispatched' } });
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
      executions.filter((e) => envOf(e)[BRIDGE_EXECUTION_ENV.requestId] === requestId),
    ).toEqual([]);
  });
});
