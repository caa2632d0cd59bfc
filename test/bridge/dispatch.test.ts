import { Firestore } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BRIDGE_EXECUTION_ENV, jobDocumentId } from '../../src/contract/index.ts';
import { envelope, GHOST_JOB, JOB_MAX_RETRIES, jobRequest, startRig, type Rig } from './rig.ts';
import { executionEnv } from '../../src/launcher/index.ts';

describe('dedup-and-dispatch, in-process on the emulators', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('starts one execution with the overrides and records it with 2 writes and 0 reads', async () => {
    const request = jobRequest({
      function: 'screenshot',
      args: ['https://example.com'],
      env: { MODE: 'fast-secret-value' },
      taskCount: 3,
      timeoutSeconds: 300,
    });
    const res = await rig.push(envelope(request));
    expect(res.status).toBe(201);
    expect(res.body.outcome).toBe('dispatched');
    const docId = jobDocumentId(request.requestId as string);
    const doc = await rig.jobDoc(docId);
    expect(doc?.state).toBe('dispatched');
    expect(doc?.envNames).toEqual(['MODE']);
    expect(JSON.stringify(doc)).not.toContain('fast-secret-value');
    const dispatch = doc?.dispatch as Record<string, unknown>;
    expect(dispatch.executionName).toBe(res.body.executionName);
    expect(dispatch.leaseOwner).toBeNull();
    const executions = await rig.executions();
    const execution = executions.find((e) => e.name === dispatch.executionName);
    expect(execution).toBeDefined();
    expect(execution?.taskCount).toBe(3);
    expect(Number(execution?.template?.timeout?.seconds)).toBe(300);
    expect(execution?.template?.containers?.[0]?.args).toEqual([
      'work',
      'screenshot',
      'https://example.com',
    ]);
    expect(executionEnv(execution!)).toMatchObject({
      MODE: 'fast-secret-value',
      [BRIDGE_EXECUTION_ENV.requestId]: request.requestId,
      [BRIDGE_EXECUTION_ENV.jobDocumentId]: docId,
      [BRIDGE_EXECUTION_ENV.function]: 'screenshot',
      [BRIDGE_EXECUTION_ENV.maxRetries]: String(JOB_MAX_RETRIES),
    });
    const line = rig.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.requestId === request.requestId);
    expect(line).toMatchObject({
      outcome: 'dispatched',
      status: 201,
      firestore: { writes: 2, reads: 0 },
      severity: 'INFO',
    });
    expect(typeof line?.latencyMs).toBe('number');
    expect(rig.logLines.join('\n')).not.toContain('fast-secret-value');
  });

  it("without `function`, passes args verbatim; without args keeps the job's own", async () => {
    const verbatim = jobRequest({ args: ['--flag', 'x'] });
    const kept = jobRequest();
    expect((await rig.push(envelope(verbatim))).status).toBe(201);
    expect((await rig.push(envelope(kept))).status).toBe(201);
    const executions = await rig.executions();
    const byReq = (id: unknown) =>
      executions.find((e) => executionEnv(e)[BRIDGE_EXECUTION_ENV.requestId] === id);
    expect(byReq(verbatim.requestId)?.template?.containers?.[0]?.args).toEqual(['--flag', 'x']);
    expect(byReq(kept.requestId)?.template?.containers?.[0]?.args).toEqual(['default']);
    expect(executionEnv(byReq(kept.requestId)!)).not.toHaveProperty(BRIDGE_EXECUTION_ENV.function);
  });

  it('50 concurrent deliveries of one request id start exactly one execution', async () => {
    const request = jobRequest();
    const before = (await rig.executions()).length;
    const results = await Promise.all(
      Array.from({ length: 50 }, () => rig.push(envelope(request))),
    );
    const outcomes = results.map((r) => r.body.outcome);
    expect(outcomes.filter((o) => o === 'dispatched')).toHaveLength(1);
    for (const r of results)
      expect(['dispatched', 'in-progress', 'duplicate']).toContain(r.body.outcome);
    expect((await rig.executions()).length).toBe(before + 1);
    // Redeliveries after dispatch: acked as duplicates, nothing new started.
    const again = await Promise.all(Array.from({ length: 5 }, () => rig.push(envelope(request))));
    for (const r of again) expect(r).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
    expect((await rig.executions()).length).toBe(before + 1);
  });

  it('takes the request id from the attribute, then the body, then the messageId', async () => {
    const { requestId: _drop, ...noId } = jobRequest();
    const r1 = await rig.push(envelope(noId, { attributes: { requestId: 'attr-id-1' } }));
    expect(r1.status).toBe(201);
    expect((await rig.jobDoc('attr-id-1'))?.requestId).toBe('attr-id-1');
    const r2 = await rig.push(envelope(noId, { messageId: 'msg-123456' }));
    expect(r2.status).toBe(201);
    // Under its own prefix: no explicit id can squat on (or be taken by) a messageId fallback.
    expect((await rig.jobDoc('msg~msg-123456'))?.state).toBe('dispatched');
    expect(await rig.jobDoc('msg-123456')).toBeUndefined();
  });

  it('refuses an attribute id that differs from the body id, recorded under the attribute', async () => {
    const body = jobRequest();
    const res = await rig.push(
      envelope(body, { attributes: { requestId: `${String(body.requestId)}-x` } }),
    );
    expect(res).toMatchObject({ status: 200, body: { outcome: 'rejected:requestId' } });
    expect((await rig.jobDoc(`${String(body.requestId)}-x`))?.state).toBe('rejected');
    expect(await rig.jobDoc(String(body.requestId))).toBeUndefined();
  });

  it('stores ids that are not Firestore document ids under a hash, keeping the original', async () => {
    for (const id of ['a'.repeat(2000), 'tenant/acme/export', '..']) {
      const res = await rig.push(envelope(jobRequest({ requestId: id })));
      expect(res.status).toBe(201);
      const docId = jobDocumentId(id);
      expect(docId).not.toBe(id);
      const doc = await rig.jobDoc(docId);
      expect(doc?.requestId).toBe(id);
      expect(doc?.state).toBe('dispatched');
      const again = await rig.push(envelope(jobRequest({ requestId: id })));
      expect(again.body.outcome).toBe('duplicate');
    }
  });

  it('a job on the allowlist that Cloud Run does not know is recorded failed and acked', async () => {
    const request = jobRequest({ job: GHOST_JOB });
    const res = await rig.push(envelope(request));
    expect(res).toMatchObject({ status: 200, body: { outcome: 'launch-failed' } });
    const doc = await rig.jobDoc(request.requestId as string);
    expect(doc?.state).toBe('failed');
    expect((doc?.error as { code: string }).code).toBe('NOT_FOUND');
    expect((await rig.push(envelope(request))).body.outcome).toBe('duplicate');
  });

  for (const [fault, rate, reason, checkStarted] of [
    ['UNAVAILABLE', { runJobUnavailableRate: 1 }, 'runjob-rate', true],
    ['RESOURCE_EXHAUSTED', { runJobResourceExhaustedRate: 1 }, 'runjob-rate', false],
  ] as const) {
    it(`runJob ${fault} → queued and acked (no delivery attempt spent), then started once by a drain`, async () => {
      const request = jobRequest();
      const requestId = request.requestId as string;
      const before = (await rig.executions()).length;
      rig.emulator.setFaults(rate);
      let res;
      try {
        res = await rig.push(envelope(request));
      } finally {
        rig.emulator.setFaults({});
      }
      expect(res).toMatchObject({
        status: 200,
        body: { outcome: 'queued', reason, error: { code: fault } },
      });
      const doc = await rig.jobDoc(requestId);
      expect(doc?.state).toBe('queued');
      expect(doc?.queue).toMatchObject({ reason, checkStarted });
      expect((doc?.dispatch as { leaseOwner: unknown }).leaseOwner).toBeNull();
      // A redelivery is a duplicate: Firestore is the queue now, not Pub/Sub.
      expect((await rig.push(envelope(request))).body.outcome).toBe('duplicate');
      // What Cloud Scheduler calls: the drain waits out the budget's backoff and starts it.
      const drained = await rig.app.inject({
        method: 'POST',
        url: '/reconcile',
        payload: { drainForMs: 10_000 },
      });
      // Started by this drain, or already by the short one after the redelivery's answer.
      expect(drained.json()).toMatchObject({ drain: { queueDepth: 0 } });
      const after = await rig.jobDoc(requestId);
      expect(after?.state).toBe('dispatched');
      // The push's own short drain may have tried once more while the fault was still on.
      expect((after?.dispatch as { attempts: number }).attempts).toBeGreaterThanOrEqual(2);
      expect(after?.pendingRequest).toBeUndefined();
      expect((await rig.executions()).length).toBe(before + 1);
    });
  }
});

/** A Firestore client whose server is gone: a port nothing listens on, as in an outage. */
function deadFirestore(projectId: string): Firestore {
  // The emulator variable overrides `host`, so it must be out of the way while constructing.
  const saved = process.env.FIRESTORE_EMULATOR_HOST;
  delete process.env.FIRESTORE_EMULATOR_HOST;
  try {
    return new Firestore({ projectId, host: '127.0.0.1:9', ssl: false, preferRest: false });
  } finally {
    process.env.FIRESTORE_EMULATOR_HOST = saved;
  }
}

describe('permanent errors and an unreachable Firestore', () => {
  it('INVALID_ARGUMENT from Cloud Run (a malformed job name) → failed recorded, acked', async () => {
    const rig = await startRig({ region: 'bad/region' });
    try {
      const request = jobRequest();
      const res = await rig.push(envelope(request));
      expect(res).toMatchObject({
        status: 200,
        body: { outcome: 'launch-failed', error: { code: 'INVALID_ARGUMENT' } },
      });
      expect((await rig.jobDoc(request.requestId as string))?.state).toBe('failed');
    } finally {
      await rig.close();
    }
  });

  it('Firestore unreachable → retry status within the budget, nothing written, no execution', async () => {
    const rig = await startRig({
      budgetMs: 1500,
      shutdownGraceMs: 100,
      // A port nothing listens on: every call fails (or hangs) the way an outage does.
      firestore: (projectId) => deadFirestore(projectId),
    });
    const { testFirestore } = await import('../harness/google.ts');
    const real = testFirestore(rig.projectId);
    try {
      const request = jobRequest();
      const res = await rig.push(envelope(request));
      expect(res.status).toBe(503);
      expect(['store-unavailable', 'budget-exceeded']).toContain(res.body.outcome);
      expect(
        (
          await real
            .collection('jobs')
            .doc(request.requestId as string)
            .get()
        ).exists,
      ).toBe(false);
      expect(await rig.executions()).toHaveLength(0);
      const ready = await rig.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
    } finally {
      await real.terminate();
      await rig.close();
    }
  });
});
