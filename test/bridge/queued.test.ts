import { FieldValue } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BRIDGE_EXECUTION_ENV, jobDocumentId } from '../../src/contract/index.ts';
import type { DrainResult } from '../../src/dispatch/drain.ts';
import { envelope, jobRequest, startRig, type Rig } from './rig.ts';
import { executionEnv } from '../../src/launcher/index.ts';

const LIMITS = {
  runJobPerMinute: 100_000,
  runJobBurst: 10_000,
  maxConcurrentLaunches: 100,
  keyConcurrency: 1,
};

describe('per-key concurrency: queued jobs', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({ limits: LIMITS });
    // A bridge already serving: its clients connected (a cold first call can outlast a budget).
    await deliver(envelope(jobRequest()));
  });
  /** A reconcile call's drain, as Cloud Scheduler makes it. */
  const drain = async (): Promise<DrainResult> => {
    const res = await rig.app.inject({
      method: 'POST',
      url: '/reconcile',
      payload: { drainForMs: 3000 },
    });
    return res.json<{ drain: DrainResult }>().drain;
  };
  afterAll(async () => {
    await rig?.close();
  });

  const executionsOf = async (requestId: string) =>
    (await rig.executions()).filter(
      (e) => executionEnv(e)[BRIDGE_EXECUTION_ENV.requestId] === requestId,
    );
  /** Delivers like Pub/Sub: a non-ack (e.g. 503 budget-exceeded on a loaded machine) is redelivered. */
  const deliver = async (body: unknown) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await rig.push(body);
      if ([200, 201].includes(res.status) || Date.now() > deadline) return res;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const state = async (requestId: string) => (await rig.jobDoc(jobDocumentId(requestId)))?.state;
  /** What a worker writes when its job ends. */
  const finish = (requestId: string) =>
    rig.firestore
      .collection('jobs')
      .doc(jobDocumentId(requestId))
      .update({ state: 'succeeded', finishedAt: new Date() });

  it('runs one job of a key at a time; the rest wait queued and go in order', async () => {
    const key = 'tenant-a';
    const [a, b, c] = [1, 2, 3].map(() =>
      jobRequest({ function: 'report', args: ['x'], concurrencyKey: key }),
    ) as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
    const ids = [a, b, c].map((r) => r.requestId as string) as [string, string, string];
    expect((await deliver(envelope(a))).body.outcome).toBe('dispatched');
    const rb = await deliver(envelope(b));
    expect(rb).toMatchObject({
      status: 200,
      body: { outcome: 'queued', reason: 'concurrency-key' },
    });
    expect((await rig.jobDoc(jobDocumentId(ids[1])))?.queue).toMatchObject({
      reason: 'concurrency-key',
    });
    expect((await deliver(envelope(c))).body.outcome).toBe('queued');
    // A redelivery of a queued message is a duplicate, not a second queue entry.
    expect((await deliver(envelope(b))).body.outcome).toBe('duplicate');

    expect(await drain()).toMatchObject({ started: 0, queueDepth: 2 }); // a is still running
    await finish(ids[0]);
    expect(await drain()).toMatchObject({ started: 1, queueDepth: 1 });
    expect(await state(ids[1])).toBe('dispatched');
    expect(await state(ids[2])).toBe('queued');
    const [execution] = await executionsOf(ids[1]);
    expect(execution?.template?.containers?.[0]?.args).toEqual(['work', 'report', 'x']);

    // A cancel before its turn: it ends cancelled and never runs.
    await rig.firestore
      .collection('jobs')
      .doc(jobDocumentId(ids[2]))
      .update({ cancelRequested: true, updatedAt: FieldValue.serverTimestamp() });
    await finish(ids[1]);
    // The reconcile pass or its drain ends it, whichever reads it first; neither starts it.
    expect(await drain()).toMatchObject({ started: 0, queueDepth: 0 });
    expect(await state(ids[2])).toBe('cancelled');
    for (const [id, n] of [
      [ids[0], 1],
      [ids[1], 1],
      [ids[2], 0],
    ] as const) {
      expect((await executionsOf(id)).length, id).toBe(n);
    }
  });

  it('concurrent deliveries of one key take its single slot once', async () => {
    const key = 'tenant-b';
    const requests = Array.from({ length: 5 }, () =>
      jobRequest({ function: 'report', concurrencyKey: key }),
    );
    const answers = await Promise.all(requests.map((r) => deliver(envelope(r))));
    for (const a of answers)
      expect(['dispatched', 'queued', 'duplicate']).toContain(a.body.outcome);
    const states = await Promise.all(requests.map((r) => state(r.requestId as string)));
    expect(states.sort()).toEqual(['dispatched', 'queued', 'queued', 'queued', 'queued']);
    const launched = await Promise.all(
      requests.map(async (r) => (await executionsOf(r.requestId as string)).length),
    );
    expect(launched.reduce((x, y) => x + y, 0)).toBe(1);
  });

  it('a keyed request with env values waits queued too, and starts with them', async () => {
    const key = 'tenant-c';
    expect(
      (await rig.push(envelope(jobRequest({ function: 'report', concurrencyKey: key })))).body
        .outcome,
    ).toBe('dispatched');
    const secret = jobRequest({ function: 'report', concurrencyKey: key, env: { TOKEN: 'abc' } });
    const res = await rig.push(envelope(secret));
    expect(res).toMatchObject({
      status: 200,
      body: { outcome: 'queued', reason: 'concurrency-key' },
    });
    const running = await rig.firestore
      .collection('jobs')
      .where('concurrencyKey', '==', key)
      .where('state', '==', 'dispatched')
      .get();
    for (const doc of running.docs) await finish(String(doc.get('requestId')));
    expect(await drain()).toMatchObject({ started: 1 });
    const [execution] = await executionsOf(secret.requestId as string);
    expect(executionEnv(execution ?? {}).TOKEN).toBe('abc');
    // Once started, the document no longer holds the value.
    expect(
      (await rig.jobDoc(jobDocumentId(secret.requestId as string)))?.pendingRequest,
    ).toBeUndefined();
  });
});
