import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slicesPerRequest } from '../../bench/lib/slices.ts';
import { jobDocumentId, type JobRequest } from '../../src/contract/index.ts';
import { memberOf } from '../../src/dispatch/batch.ts';
import { BatchStore } from '../../src/store/batch-store.ts';
import { newOpCount } from '../../src/store/job-ops.ts';
import { JobQueue } from '../../src/store/job-queue.ts';
import { envelope, JOB, startRig, type Rig } from '../bridge/rig.ts';
import { queueRequest } from '../store/rig.ts';

describe('a redelivery of a member of an abandoned batch', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('is acked and never starts the member alone; the batch is taken over and each member runs one slice', async () => {
    const queue = new JobQueue(rig.firestore, 'jobs');
    const batches = new BatchStore(rig.firestore, 'jobs');
    const past = Date.now() - 120_000;
    const requests: JobRequest[] = [0, 1].map((i) => ({
      schemaVersion: 1,
      requestId: `member-${i}-${randomUUID()}`,
      job: JOB,
      function: 'report',
    }));
    for (const [i, r] of requests.entries())
      await queueRequest(queue, r, { now: new Date(past + i) });
    // A drainer claimed both as one batch two minutes ago and died before RunJob.
    const entries = (await queue.oldest(10)).filter((e) =>
      requests.some((r) => r.requestId === e.requestId),
    );
    expect(entries).toHaveLength(2);
    const claimed = await batches.claimBatch(
      {
        batchId: randomUUID(),
        owner: randomUUID(),
        job: JOB,
        timeoutSeconds: undefined,
        candidates: entries.map((entry, i) => ({
          entry,
          member: memberOf(entry, requests[i] as JobRequest, 1),
        })),
        now: new Date(past + 1000),
        leaseMs: 1000,
        retentionMs: 86_400_000,
      },
      newOpCount(),
    );
    expect(claimed).toBeDefined();

    // Pub/Sub brings the first member's message back: the batch holds it, so it is acked as such.
    const again = await rig.push(envelope(requests[0]));
    expect(again).toMatchObject({
      status: 200,
      body: { outcome: 'duplicate', batchId: claimed?.batchId },
    });

    // A drain (the one this push ran, since the bridge now knows of a queue, or the next) takes
    // the batch over — no execution of it: its members go back to the queue — and starts them:
    // one slice each.
    const res = await rig.app.inject({
      method: 'POST',
      url: '/reconcile',
      payload: { drainForMs: 5000 },
    });
    expect(res.statusCode).toBe(200);
    const { perRequest } = await slicesPerRequest(rig.firestore, await rig.executions());
    for (const r of requests) {
      expect(perRequest.get(r.requestId ?? ''), r.requestId).toBe(1);
      const doc = await rig.jobDoc(jobDocumentId(r.requestId ?? ''));
      expect(doc?.state).toBe('dispatched');
    }
  });
});
