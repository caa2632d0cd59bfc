import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelJob } from '../../src/consumer/index.ts';
import {
  BATCH_COLLECTION,
  batchDigest,
  BRIDGE_EXECUTION_ENV,
  DEFAULT_JOB_POLICY,
  jobDocumentId,
  parseBatchContent,
  type JobRequest,
} from '../../src/contract/index.ts';
import { RunBudget } from '../../src/dispatch/budget.ts';
import { coalesce, batchCaps, type Candidate } from '../../src/dispatch/batch.ts';
import { Drainer } from '../../src/dispatch/drain.ts';
import { MaxRetriesCache } from '../../src/dispatch/launch-request.ts';
import { QueueKnowledge } from '../../src/dispatch/queue-knowledge.ts';
import { CloudRunLauncher, executionEnv } from '../../src/launcher/index.ts';
import { BatchStore, MAX_BATCH_MEMBERS } from '../../src/store/batch-store.ts';
import { newOpCount, type OpCount } from '../../src/store/job-ops.ts';
import { JobQueue, type QueueEntry } from '../../src/store/job-queue.ts';
import { JobRepository } from '../../src/store/job-repository.ts';
import { JOB, JOB_MAX_RETRIES, REGION, startRig, type Rig } from '../bridge/rig.ts';
import { queueRequest } from '../store/rig.ts';

const GENEROUS = { runJobPerMinute: 100_000, runJobBurst: 1000, maxConcurrentLaunches: 50 };

describe('batches: compatible queued requests start as one execution', () => {
  let rig: Rig;
  let queue: JobQueue;
  let launcher: CloudRunLauncher;
  let batches: BatchStore;

  beforeAll(async () => {
    rig = await startRig();
    queue = new JobQueue(rig.firestore, 'jobs');
    launcher = new CloudRunLauncher(rig.run, { project: rig.projectId, region: REGION });
    batches = new BatchStore(rig.firestore, 'jobs');
  });
  afterAll(async () => {
    await rig?.close();
  });

  const drainer = (batchMaxRequests: number) =>
    new Drainer({
      queue,
      repository: new JobRepository(rig.firestore, 'jobs'),
      launcher,
      budget: new RunBudget(GENEROUS),
      maxRetries: new MaxRetriesCache(launcher),
      jobs: new Set([JOB]),
      policies: new Map([[JOB, { ...DEFAULT_JOB_POLICY, rawArgs: true, env: ['SECRET'] }]]),
      leaseMs: 60_000,
      keyConcurrency: 0,
      knowledge: new QueueKnowledge(),
      batches,
      batchMaxRequests,
      retentionMs: 86_400_000,
    });

  const request = (extra: Partial<JobRequest> = {}): JobRequest => ({
    schemaVersion: 1,
    requestId: `batch-${randomUUID()}`,
    job: JOB,
    function: 'report',
    ...extra,
  });
  // One queuedAt per request, a millisecond apart: the queue's order is the order of this list.
  let clock = Date.now() - 60_000;
  const queueUp = (r: JobRequest) => queueRequest(queue, r, { now: new Date(clock++) });
  const doc = (r: JobRequest) => rig.jobDoc(jobDocumentId(r.requestId ?? ''));
  const batchDoc = async (batchId: string) =>
    (await rig.firestore.collection(BATCH_COLLECTION).doc(batchId).get()).data();
  const byBatch = async (batchId: string) =>
    (await rig.executions()).filter(
      (e) => executionEnv(e)[BRIDGE_EXECUTION_ENV.batchId] === batchId,
    );
  const byRequest = async (requestId: string) =>
    (await rig.executions()).filter(
      (e) => executionEnv(e)[BRIDGE_EXECUTION_ENV.requestId] === requestId,
    );

  it('coalesces function requests of one job and timeout, oldest first, up to the cap; raw args, other timeouts and cancels start alone', async () => {
    const counts = [1, 3, 7];
    const members = Array.from({ length: 12 }, (_, i) =>
      request({
        args: [`n${i}`],
        taskCount: counts[i % 3] as number,
        ...(i % 4 === 0 ? { env: { SECRET: `s3cret-${i}` } } : {}),
      }),
    );
    const raw = request({ function: undefined, args: ['echo', 'raw'] });
    const lonely = request({ timeoutSeconds: 77 });
    for (const r of [...members.slice(0, 5), raw, lonely, ...members.slice(5)]) await queueUp(r);
    const cancelled = members[2] as JobRequest;
    expect((await cancelJob(rig.firestore, cancelled.requestId ?? '')).outcome).toBe('requested');

    const result = await drainer(5).drain(Date.now() + 30_000);
    // 11 members in batches of 5, 5 and 1 — a batch of one starts as a request of its own.
    expect(result).toMatchObject({ batches: 2, started: 13, cancelled: 1, failed: 0 });

    const batchIds = new Set<string>();
    for (const r of members.filter((m) => m !== cancelled).slice(0, 10)) {
      const d = await doc(r);
      expect(d?.state).toBe('dispatched');
      expect(d?.pendingRequest).toBeUndefined();
      batchIds.add(String((d?.dispatch as { batchId: string }).batchId));
    }
    expect(batchIds.size).toBe(2);
    const inOrder = members.filter((m) => m !== cancelled);
    for (const [n, batchId] of [...batchIds].entries()) {
      const stored = await batchDoc(batchId);
      const content = parseBatchContent(stored);
      // Members in queue order, offsets contiguous from 0, each with its own args, env, count.
      const expected = inOrder.slice(n * 5, n * 5 + 5);
      expect(content.members.map((m) => m.requestId)).toEqual(expected.map((r) => r.requestId));
      let offset = 0;
      for (const [i, m] of content.members.entries()) {
        const r = expected[i] as JobRequest;
        expect(m).toEqual({
          requestId: r.requestId,
          documentId: jobDocumentId(r.requestId ?? ''),
          offset,
          taskCount: r.taskCount,
          function: 'report',
          args: r.args,
          env: r.env ?? {},
        });
        const d = await doc(r);
        expect(d?.dispatch).toMatchObject({ batchId, taskOffset: offset });
        offset += r.taskCount ?? 0;
      }
      expect(stored?.taskCount).toBe(offset);
      expect(stored?.digest).toBe(batchDigest(content));
      const runs = await byBatch(batchId);
      expect(runs).toHaveLength(1);
      const run = runs[0];
      expect(run?.template?.containers?.[0]?.args).toEqual(['work', '--batch']);
      expect(run?.taskCount).toBe(offset);
      const env = executionEnv(run ?? {});
      expect(env[BRIDGE_EXECUTION_ENV.batchDigest]).toBe(stored?.digest);
      expect(env[BRIDGE_EXECUTION_ENV.maxRetries]).toBe(String(JOB_MAX_RETRIES));
      // Per-member names stay out of a batch's env: they live in the batch document.
      expect(env[BRIDGE_EXECUTION_ENV.requestId]).toBeUndefined();
      expect(stored).toMatchObject({ state: 'dispatched', executionName: run?.name, lease: null });
      for (const r of expected)
        expect((await doc(r))?.dispatch).toMatchObject({ executionName: run?.name });
    }
    // The last member of the group, the raw-args request and the other timeout: one each.
    for (const r of [members[11] as JobRequest, raw, lonely]) {
      expect(await byRequest(r.requestId ?? '')).toHaveLength(1);
      expect((await doc(r))?.dispatch).not.toHaveProperty('batchId');
    }
    expect((await doc(cancelled))?.state).toBe('cancelled');
    expect(await byRequest(cancelled.requestId ?? '')).toHaveLength(0);
    expect((await queue.depth()).depth).toBe(0);
  });

  it('a tampered stored request fails on its own, naming why; its neighbours still start together', async () => {
    const rs = [request(), request(), request()];
    for (const r of rs) await queueUp(r);
    const forged = rs[1] as JobRequest;
    await rig.firestore
      .collection('jobs')
      .doc(jobDocumentId(forged.requestId ?? ''))
      .update({ pendingRequest: JSON.stringify({ ...forged, args: ['other'] }) });
    const result = await drainer(10).drain(Date.now() + 20_000);
    expect(result).toMatchObject({ batches: 1, started: 2, failed: 1 });
    const failed = await doc(forged);
    expect(failed?.state).toBe('failed');
    expect(failed?.error).toMatchObject({ code: 'invalid-stored-request' });
    expect(String((failed?.error as { message: string }).message)).toContain('digest');
    const batchId = String(
      ((await doc(rs[0] as JobRequest))?.dispatch as { batchId: string }).batchId,
    );
    const content = parseBatchContent(await batchDoc(batchId));
    expect(content.members.map((m) => m.requestId)).toEqual([rs[0]?.requestId, rs[2]?.requestId]);
  });

  it('RESOURCE_EXHAUSTED gives a batch back to the queue whole, places kept; the next drain starts it once', async () => {
    const rs = Array.from({ length: 4 }, () => request());
    for (const r of rs) await queueUp(r);
    const before = await Promise.all(rs.map(doc));
    rig.emulator.setQuotas({ runJobPerMinute: 1 });
    try {
      // Spend the minute's one call (earlier tests may have spent it), so that the batch's is refused.
      await launcher.launch({ job: JOB }).catch(() => undefined);
      const refused = await drainer(10).drain(Date.now() + 3_000);
      expect(refused).toMatchObject({ started: 0, requeued: 4, batches: 0 });
    } finally {
      rig.emulator.setQuotas({});
    }
    for (const [i, r] of rs.entries()) {
      const d = await doc(r);
      expect(d?.state).toBe('queued');
      expect(d?.dispatch).not.toHaveProperty('batchId');
      expect(d?.pendingRequest).toBe(before[i]?.pendingRequest);
      expect((d?.queue as { queuedAt: unknown }).queuedAt).toEqual(
        (before[i]?.queue as { queuedAt: unknown }).queuedAt,
      );
    }
    const left = await rig.firestore
      .collection(BATCH_COLLECTION)
      .where('state', '==', 'dispatching')
      .get();
    expect(left.size).toBe(0);
    // A fresh drainer, as another instance would be: its budget has not seen the refusal.
    const result = await drainer(10).drain(Date.now() + 20_000);
    expect(result).toMatchObject({ batches: 1, started: 4 });
    const batchId = String(
      ((await doc(rs[0] as JobRequest))?.dispatch as { batchId: string }).batchId,
    );
    expect(await byBatch(batchId)).toHaveLength(1);
    for (const r of rs) expect((await doc(r))?.state).toBe('dispatched');
  });

  it('claims and records a batch nobody wrote meanwhile with no read: the only reads are the queue page and its depth', async () => {
    const rs = Array.from({ length: 6 }, () => request());
    for (const r of rs) await queueUp(r);
    const result = await drainer(10).drain(Date.now() + 20_000);
    expect(result).toMatchObject({ batches: 1, started: 6 });
    // 6 entries on the page, then the depth (2); the claim and the record are each one batched
    // write fenced on update times: 6 + 1 writes each. The unfenced path read 2 × 6 + 1 more.
    expect(result.firestore).toEqual({ reads: 6 + 2, writes: 2 * (6 + 1) });
    const batchId = String(
      ((await doc(rs[0] as JobRequest))?.dispatch as { batchId: string }).batchId,
    );
    const runs = await byBatch(batchId);
    expect(runs).toHaveLength(1);
    expect(await batchDoc(batchId)).toMatchObject({
      state: 'dispatched',
      executionName: runs[0]?.name,
      lease: null,
    });
    for (const r of rs)
      expect(await doc(r)).toMatchObject({
        state: 'dispatched',
        dispatch: { batchId, executionName: runs[0]?.name, leaseOwner: null },
      });
  });

  it('a member written after the drain read it is left out of the claim; one written after the claim keeps its state at the record; a lost lease records nothing', async () => {
    const rs = Array.from({ length: 4 }, () => request());
    for (const r of rs) await queueUp(r);
    const ids = rs.map((r) => jobDocumentId(r.requestId ?? ''));
    // The entries as a drain reads them now, and a claim of them.
    const read = async (docIds: readonly string[]) =>
      (await queue.oldest(100)).filter((e) => docIds.includes(e.docId));
    const claim = (entries: readonly QueueEntry[], ops: OpCount) =>
      batches.claimBatch(
        {
          batchId: randomUUID(),
          owner: randomUUID(),
          job: JOB,
          timeoutSeconds: undefined,
          candidates: entries.map((entry) => ({
            entry,
            member: {
              requestId: entry.requestId,
              documentId: entry.docId,
              taskCount: 1,
              function: 'report',
              args: [],
              env: {},
            },
          })),
          now: new Date(),
          leaseMs: 60_000,
          retentionMs: 86_400_000,
        },
        ops,
      );
    const jobs = rig.firestore.collection('jobs');
    const [changed = '', ...rest] = ids;

    const entries = await read(ids);
    expect(entries).toHaveLength(4);
    // Written since the drain's read, as a redelivery's or a cancel's write would be.
    await jobs.doc(changed).update({ touched: true });
    const claimOps = newOpCount();
    const refused = await claim(entries, claimOps);
    // The fenced write failed whole; the transaction read all 4 and left the changed one out.
    expect(refused?.memberDocIds).toEqual(rest);
    expect(refused?.writeTime).toBeUndefined();
    expect(claimOps).toEqual({ reads: 4, writes: 5 + 4 });
    expect((await rig.jobDoc(changed))?.state).toBe('queued');
    expect(await batches.dissolveBatch(refused!, 'runjob-rate', new Date(), newOpCount())).toBe(
      true,
    );

    // Read again, the 3 are claimed by the fenced write alone. A worker moves one on before the
    // bridge records: the record's fenced write fails, the transaction reads and leaves its state.
    const ops = newOpCount();
    const lease = await claim(await read(rest), ops);
    expect(ops).toEqual({ reads: 0, writes: 4 });
    expect(lease?.writeTime).toBeDefined();
    const [, running = ''] = rest;
    await jobs.doc(running).update({ state: 'running' });
    const record = { operationName: 'op', executionName: `exec-${randomUUID()}`, adopted: false };
    const recordOps = newOpCount();
    expect(await batches.recordBatch(lease!, record, new Date(), recordOps)).toBe(true);
    expect(recordOps).toEqual({ reads: 4, writes: 4 + 4 });
    for (const id of rest)
      expect(await rig.jobDoc(id)).toMatchObject({
        state: id === running ? 'running' : 'dispatched',
        dispatch: { executionName: record.executionName, leaseOwner: null },
      });
    expect(await batchDoc(lease?.batchId ?? '')).toMatchObject({ state: 'dispatched' });

    // A lease lost since the claim (a takeover wrote the batch document): nothing moves.
    const lost = await claim(await read([changed]), newOpCount());
    expect(lost?.writeTime).toBeDefined();
    await rig.firestore
      .collection(BATCH_COLLECTION)
      .doc(lost?.batchId ?? '')
      .update({ 'lease.owner': 'another-drainer' });
    expect(await batches.recordBatch(lost!, record, new Date(), newOpCount())).toBe(false);
    expect(await rig.jobDoc(changed)).toMatchObject({ state: 'dispatching' });
    expect(await batchDoc(lost?.batchId ?? '')).toMatchObject({ state: 'dispatching' });
    expect(await batches.dissolveBatch(lost!, 'runjob-rate', new Date(), newOpCount())).toBe(false);
  });

  it('cuts groups at the member, task and size caps', () => {
    const c = (taskCount: number, timeoutSeconds?: number, bytes = 0): Candidate =>
      ({
        entry: { docId: randomUUID() },
        request: { job: JOB, function: 'f', ...(timeoutSeconds ? { timeoutSeconds } : {}) },
        member: { taskCount, args: bytes > 0 ? ['x'.repeat(bytes)] : [], env: {} },
      }) as unknown as Candidate;
    const sizes = (groups: Candidate[][]) => groups.map((g) => g.length);
    expect(sizes(coalesce([c(1), c(1), c(1), c(1), c(1)], batchCaps(2)))).toEqual([2, 2]);
    expect(sizes(coalesce([c(6000), c(3000), c(2000), c(1)], batchCaps(100)))).toEqual([2, 2]);
    expect(sizes(coalesce([c(1), c(1, 30), c(1), c(1, 30), c(1, 60)], batchCaps(10)))).toEqual([
      2, 2,
    ]);
    expect(
      sizes(
        coalesce(
          Array.from({ length: 30 }, () => c(1, 0, 60_000)),
          batchCaps(100),
        ),
      ),
    ).toEqual([15, 15]);
    expect(batchCaps(10_000).maxRequests).toBe(MAX_BATCH_MEMBERS);
  });
});
