import { afterAll, describe, expect, it } from 'vitest';
import { newOpCount } from '../../src/store/job-ops.ts';
import { JobRepository, type ExistingJob, type Lease } from '../../src/store/job-repository.ts';
import type { JobDispatchStore } from '../../src/store/port.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { claimInput, COLLECTION, readDoc, request, touch } from './rig.ts';

/**
 * JobDispatchStore (src/store/port.ts) against the Firestore emulator: each operation does what
 * its TSDoc promises, costs what it says, and loses races the way it says (false/undefined).
 */
const db = testFirestore(testProjectId('store-dispatch'));
const store: JobDispatchStore = new JobRepository(db, COLLECTION);
afterAll(async () => {
  await db.terminate();
});

/** A claimed request: its input and our lease. */
async function claimed(extra: Parameters<typeof claimInput>[1] = {}) {
  const r = request({ args: ['first'] });
  const input = claimInput(r, extra);
  const result = await store.claim(input, newOpCount());
  if (result.kind !== 'claimed') throw new Error('expected a fresh claim');
  return { r, input, lease: result.lease };
}

/** The document as a second delivery of the same id finds it. */
async function existing(input: ReturnType<typeof claimInput>): Promise<ExistingJob> {
  const again = await store.claim({ ...input, owner: 'someone-else' }, newOpCount());
  if (again.kind !== 'existing') throw new Error('expected the existing document');
  return again.job;
}

describe('claim', () => {
  it('exactly one of eight concurrent claims of one id wins; the rest read the winner', async () => {
    const r = request();
    const inputs = Array.from({ length: 8 }, () => claimInput(r));
    const counts = inputs.map(() => newOpCount());
    const results = await Promise.all(inputs.map((input, i) => store.claim(input, counts[i]!)));
    const winners = results.flatMap((res, i) => (res.kind === 'claimed' ? [i] : []));
    expect(winners).toHaveLength(1);
    const winner = inputs[winners[0]!]!;
    for (const [i, res] of results.entries()) {
      if (res.kind === 'claimed') {
        expect(res.lease.owner).toBe(winner.owner);
        expect(counts[i]).toEqual({ writes: 1, reads: 0 });
      } else {
        expect(res.job).toMatchObject({ state: 'dispatching', leaseOwner: winner.owner });
        expect(counts[i]).toEqual({ writes: 1, reads: 1 });
      }
    }
    expect(await readDoc(db, winner.docId)).toMatchObject({
      state: 'dispatching',
      requestId: r.requestId,
      dispatch: { leaseOwner: winner.owner, attempts: 1 },
    });
  });
});

describe('takeOver', () => {
  it('of an expired lease: one of two takeovers from the same read wins, with its own request', async () => {
    const { input } = await claimed({ leaseMs: 1, now: new Date(Date.now() - 60_000) });
    const found = await existing(input);
    const [a, b] = [
      claimInput({ ...input.request, args: ['from-a'] }),
      claimInput({ ...input.request, args: ['from-b'] }),
    ];
    const leases = await Promise.all([a, b].map((i) => store.takeOver(found, i, newOpCount())));
    const won = leases.filter((l): l is Lease => l !== undefined);
    expect(won).toHaveLength(1);
    const winner = won[0]!.owner === a.owner ? a : b;
    expect(await readDoc(db, input.docId)).toMatchObject({
      state: 'dispatching',
      args: winner.request.args,
      dispatch: { leaseOwner: winner.owner, attempts: found.attempts + 1 },
    });
  });

  it('is undefined once anyone wrote after the read, and costs 1 write', async () => {
    const { input } = await claimed({ leaseMs: 1, now: new Date(Date.now() - 60_000) });
    const found = await existing(input);
    await touch(db, input.docId);
    const ops = newOpCount();
    expect(await store.takeOver(found, claimInput(input.request), ops)).toBeUndefined();
    expect(ops).toEqual({ writes: 1, reads: 0 });
  });
});

describe('claimRejected', () => {
  it('turns a rejected document into a fresh claim that keeps the rejection; a stale read loses', async () => {
    const r = request();
    const input = claimInput(r);
    await store.recordRejected(
      {
        docId: input.docId,
        requestId: input.requestId,
        job: r.job,
        source: input.source,
        reason: 'rejected:args',
        issues: [{ path: 'args', reason: 'bad' }],
        now: new Date(),
        retentionMs: 86_400_000,
      },
      newOpCount(),
    );
    const found = await existing(input);
    expect(found.state).toBe('rejected');
    const lease = await store.claimRejected(found, input, newOpCount());
    expect(lease?.owner).toBe(input.owner);
    expect(await store.claimRejected(found, claimInput(r), newOpCount())).toBeUndefined();
    const doc = await readDoc(db, input.docId);
    expect(doc).toMatchObject({ state: 'dispatching', dispatch: { leaseOwner: input.owner } });
    expect(doc?.rejection).toMatchObject({ error: { code: 'rejected:args' } });
  });
});

describe('recordDispatched', () => {
  const record = { operationName: 'op-1', executionName: 'exec-1', adopted: false };

  it('while the lease is ours: dispatched, lease cleared, stored request gone, 1 write', async () => {
    const { input, lease } = await claimed();
    expect((await readDoc(db, input.docId))?.pendingRequest).toBeTypeOf('string');
    const ops = newOpCount();
    expect(await store.recordDispatched(lease, record, new Date(), ops)).toBe(true);
    expect(ops).toEqual({ writes: 1, reads: 0 });
    const doc = await readDoc(db, input.docId);
    expect(doc).toMatchObject({
      state: 'dispatched',
      dispatch: { leaseOwner: null, leaseExpiresAt: null, executionName: 'exec-1' },
    });
    expect(doc?.pendingRequest).toBeUndefined();
  });

  it('keeps the state a worker of the execution already wrote (+1 read)', async () => {
    const { input, lease } = await claimed();
    await touch(db, input.docId, { state: 'running' });
    const ops = newOpCount();
    expect(await store.recordDispatched(lease, record, new Date(), ops)).toBe(true);
    expect(ops.reads).toBe(1);
    expect(await readDoc(db, input.docId)).toMatchObject({
      state: 'running',
      dispatch: { executionName: 'exec-1', leaseOwner: null },
    });
  });

  it('is false and writes nothing once the lease was taken over', async () => {
    const { input, lease } = await claimed({ leaseMs: 1, now: new Date(Date.now() - 60_000) });
    const other = claimInput(input.request);
    expect(await store.takeOver(await existing(input), other, newOpCount())).toBeDefined();
    expect(await store.recordDispatched(lease, record, new Date(), newOpCount())).toBe(false);
    expect(await readDoc(db, input.docId)).toMatchObject({
      state: 'dispatching',
      dispatch: { leaseOwner: other.owner },
    });
    expect((await readDoc(db, input.docId))?.dispatch).not.toHaveProperty('executionName');
  });
});

describe('release, requeue, recordFailed: only while the lease is ours', () => {
  it('release clears our lease; a lost lease is left to its new owner', async () => {
    const mine = await claimed();
    await store.release(mine.lease, new Date(), newOpCount());
    expect(await readDoc(db, mine.input.docId)).toMatchObject({
      state: 'dispatching',
      dispatch: { leaseOwner: null, leaseExpiresAt: null },
    });
    const lost = await claimed({ leaseMs: 1, now: new Date(Date.now() - 60_000) });
    const other = claimInput(lost.input.request);
    await store.takeOver(await existing(lost.input), other, newOpCount());
    await store.release(lost.lease, new Date(), newOpCount());
    expect((await readDoc(db, lost.input.docId))?.dispatch).toMatchObject({
      leaseOwner: other.owner,
    });
  });

  it('requeue puts it back in the queue with its reason and place; false when lost', async () => {
    const { input, lease } = await claimed();
    const queuedAt = new Date(Date.now() - 5000);
    expect(
      await store.requeue(
        lease,
        { reason: 'running-limit', checkStarted: true, queuedAt },
        new Date(),
        newOpCount(),
      ),
    ).toBe(true);
    const doc = await readDoc(db, input.docId);
    expect(doc).toMatchObject({
      state: 'queued',
      queue: { reason: 'running-limit', checkStarted: true },
      dispatch: { leaseOwner: null },
    });
    expect((doc?.queue as { queuedAt: { toDate(): Date } }).queuedAt.toDate()).toEqual(queuedAt);
    // The lease ended with the requeue: the same lease cannot move it again.
    expect(
      await store.requeue(
        lease,
        { reason: 'runjob-rate', checkStarted: false },
        new Date(),
        newOpCount(),
      ),
    ).toBe(false);
    expect((await readDoc(db, input.docId))?.queue).toMatchObject({ reason: 'running-limit' });
  });

  it('recordFailed ends it failed with the error and drops the stored request; false when lost', async () => {
    const { input, lease } = await claimed();
    const error = { code: 'job-not-found', message: 'no such job' };
    expect(await store.recordFailed(lease, error, new Date(), newOpCount())).toBe(true);
    const doc = await readDoc(db, input.docId);
    expect(doc).toMatchObject({ state: 'failed', error, dispatch: { leaseOwner: null } });
    expect(doc?.pendingRequest).toBeUndefined();
    expect(await store.recordFailed(lease, error, new Date(), newOpCount())).toBe(false);
  });
});

describe('cancelUnlaunched and cancelIfRequested', () => {
  it('cancelUnlaunched ends an abandoned job cancelled, fenced on the read', async () => {
    const { input } = await claimed({ leaseMs: 1, now: new Date(Date.now() - 60_000) });
    const found = await existing(input);
    const stale = { ...found };
    expect(await store.cancelUnlaunched(found, new Date(), newOpCount())).toBe(true);
    expect(await readDoc(db, input.docId)).toMatchObject({
      state: 'cancelled',
      error: { code: 'cancelled' },
    });
    // The cancel itself moved the update time: the same read cannot write again.
    expect(await store.cancelUnlaunched(stale, new Date(), newOpCount())).toBe(false);
  });

  it('cancelIfRequested: go without a cancel, cancelled with one, lost without the lease', async () => {
    const go = await claimed();
    const ops = newOpCount();
    expect(await store.cancelIfRequested(go.lease, new Date(), ops)).toBe('go');
    expect(ops).toEqual({ reads: 1, writes: 0 });
    expect((await readDoc(db, go.input.docId))?.state).toBe('dispatching');

    const asked = await claimed();
    await touch(db, asked.input.docId, { cancelRequested: true });
    expect(await store.cancelIfRequested(asked.lease, new Date(), newOpCount())).toBe('cancelled');
    expect((await readDoc(db, asked.input.docId))?.state).toBe('cancelled');

    const lost = await claimed({ leaseMs: 1, now: new Date(Date.now() - 60_000) });
    await store.takeOver(await existing(lost.input), claimInput(lost.input.request), newOpCount());
    expect(await store.cancelIfRequested(lost.lease, new Date(), newOpCount())).toBe('lost');
    expect((await readDoc(db, lost.input.docId))?.state).toBe('dispatching');
  });
});

describe('recordRejected', () => {
  it('creates the rejected document, and leaves one already there (any state) alone', async () => {
    const { input } = await claimed();
    const rejection = {
      docId: input.docId,
      requestId: input.requestId,
      job: 'report',
      source: input.source,
      reason: 'rejected:job',
      issues: [{ path: 'job', reason: 'not allowed' }],
      now: new Date(),
      retentionMs: 86_400_000,
    };
    const ops = newOpCount();
    await store.recordRejected(rejection, ops);
    expect(ops).toEqual({ writes: 1, reads: 0 });
    expect(await readDoc(db, input.docId)).toMatchObject({
      state: 'dispatching',
      dispatch: { leaseOwner: input.owner },
    });
    const fresh = request();
    await store.recordRejected(
      { ...rejection, docId: claimInput(fresh).docId, requestId: fresh.requestId ?? '' },
      newOpCount(),
    );
    expect(await readDoc(db, claimInput(fresh).docId)).toMatchObject({
      state: 'rejected',
      error: { code: 'rejected:job' },
    });
  });
});
