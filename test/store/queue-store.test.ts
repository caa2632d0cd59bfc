import { afterAll, describe, expect, it } from 'vitest';
import { newOpCount } from '../../src/store/job-ops.ts';
import { JobQueue } from '../../src/store/job-queue.ts';
import { JobRepository } from '../../src/store/job-repository.ts';
import type { JobQueueStore, QueueEntry } from '../../src/store/port.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { claimInput, COLLECTION, readDoc, request, touch } from './rig.ts';

/**
 * JobQueueStore (src/store/port.ts) against the Firestore emulator. Each describe block has its
 * own project, since `oldest`, `abandoned` and `depth` read the whole queue.
 */
function queueIn(name: string) {
  const db = testFirestore(testProjectId(name));
  const queue: JobQueueStore = new JobQueue(db, COLLECTION);
  return { db, queue, repository: new JobRepository(db, COLLECTION) };
}
const opened: { db: { terminate(): Promise<void> } }[] = [];
afterAll(async () => {
  await Promise.all(opened.map((o) => o.db.terminate()));
});
const open = (name: string) => {
  const q = queueIn(name);
  opened.push(q);
  return q;
};

/** Queues `n` requests, `i` seconds apart in queuedAt order (oldest first). */
async function queueUp(queue: JobQueueStore, n: number, extra = {}) {
  const base = Date.now() - 60_000;
  const inputs = Array.from({ length: n }, (_, i) =>
    claimInput(request({ args: [`n${i}`], ...extra }), { now: new Date(base + i * 1000) }),
  );
  for (const input of inputs)
    expect((await queue.admitQueued(input, 'runjob-rate', newOpCount())).kind).toBe('queued');
  return inputs;
}

describe('admitQueued', () => {
  const { db, queue } = open('store-queue-admit');

  it('creates the queued document with its reason (1 write), or reads the one there (+1 read)', async () => {
    const input = claimInput(request());
    const ops = newOpCount();
    expect(await queue.admitQueued(input, 'running-limit', ops)).toEqual({ kind: 'queued' });
    expect(ops).toEqual({ writes: 1, reads: 0 });
    const doc = await readDoc(db, input.docId);
    expect(doc).toMatchObject({
      state: 'queued',
      queue: { reason: 'running-limit', checkStarted: false },
      dispatch: { leaseOwner: null, attempts: 0 },
    });
    expect(doc?.pendingRequest).toBe(JSON.stringify(input.request));
    expect(doc?.digest).toBeTypeOf('string');

    const again = newOpCount();
    const second = await queue.admitQueued({ ...input, owner: 'other' }, 'runjob-rate', again);
    expect(second).toMatchObject({ kind: 'existing', job: { state: 'queued' } });
    expect(again).toEqual({ writes: 1, reads: 1 });
    expect((await readDoc(db, input.docId))?.queue).toMatchObject({ reason: 'running-limit' });
  });
});

describe('oldest, lease: two dispatchers claiming one entry', () => {
  const { db, queue } = open('store-queue-lease');

  it('oldest returns the queued entries oldest first, up to the limit', async () => {
    const inputs = await queueUp(queue, 5);
    const entries = await queue.oldest(3);
    expect(entries.map((e) => e.docId)).toEqual(inputs.slice(0, 3).map((i) => i.docId));
    expect(entries[0]).toMatchObject({
      state: 'queued',
      reason: 'runjob-rate',
      pendingRequest: JSON.stringify(inputs[0]?.request),
      attempts: 0,
    });
  });

  it('exactly one of two concurrent leases of the same entry wins (and one of six)', async () => {
    for (const contenders of [2, 6]) {
      const [entry] = (await queue.oldest(1)) as [QueueEntry];
      const owners = Array.from({ length: contenders }, (_, i) => `drainer-${contenders}-${i}`);
      const leases = await Promise.all(
        owners.map((owner) => queue.lease(entry, owner, new Date(), 60_000, newOpCount())),
      );
      const won = leases.filter((l) => l !== undefined);
      expect(won).toHaveLength(1);
      expect(await readDoc(db, entry.docId)).toMatchObject({
        state: 'dispatching',
        dispatch: { leaseOwner: won[0]?.owner, attempts: 1 },
      });
      // The entry left the queue: nobody reads it as queued any more.
      expect((await queue.oldest(10)).map((e) => e.docId)).not.toContain(entry.docId);
    }
  });

  it('a lease from a read older than any write (a cancel asked, a redelivery) is refused', async () => {
    const [entry] = (await queue.oldest(1)) as [QueueEntry];
    await touch(db, entry.docId, { cancelRequested: true });
    expect(await queue.lease(entry, 'late', new Date(), 60_000, newOpCount())).toBeUndefined();
    expect((await readDoc(db, entry.docId))?.state).toBe('queued');
  });
});

describe('abandoned', () => {
  const { queue, repository } = open('store-queue-abandoned');

  it('returns dispatching entries whose lease expired before the cutoff, and no live ones', async () => {
    const dead = claimInput(request(), { now: new Date(Date.now() - 120_000), leaseMs: 1000 });
    const live = claimInput(request(), { leaseMs: 600_000 });
    for (const input of [dead, live])
      expect((await repository.claim(input, newOpCount())).kind).toBe('claimed');
    const found = await queue.abandoned(new Date(), 10);
    expect(found.map((e) => e.docId)).toEqual([dead.docId]);
    expect(found[0]).toMatchObject({ state: 'dispatching', attempts: 1 });
  });
});

describe('claimKeyed and leaseKeyed: a key never over its slots', () => {
  const { db, queue } = open('store-queue-keyed');

  it('four concurrent admissions of one key with one slot: one dispatching, three queued', async () => {
    const inputs = Array.from({ length: 4 }, () =>
      claimInput(request({ concurrencyKey: 'tenant-a' })),
    );
    const results = await Promise.all(
      inputs.map((input) => queue.claimKeyed(input, 1, newOpCount())),
    );
    expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r.kind === 'queued')).toHaveLength(3);
    const states = await Promise.all(inputs.map(async (i) => (await readDoc(db, i.docId))?.state));
    expect(states.sort()).toEqual(['dispatching', 'queued', 'queued', 'queued']);
    const queued = await Promise.all(
      inputs.map(async (i) => (await readDoc(db, i.docId))?.queue as { reason?: string }),
    );
    expect(queued.filter((q) => q?.reason === 'concurrency-key')).toHaveLength(3);
  });

  it('leaseKeyed is key-busy while the slot is held, and one of two takes it once freed', async () => {
    /** The key's slots in use: its entries `dispatching`. */
    const keySlots = () =>
      db
        .collection(COLLECTION)
        .where('concurrencyKey', '==', 'tenant-a')
        .where('state', '==', 'dispatching')
        .get();
    const holder = (await queue.oldest(10)).length;
    expect(holder).toBe(3);
    const [first, second] = (await queue.oldest(2)) as [QueueEntry, QueueEntry];
    expect(await queue.leaseKeyed(first, 'd1', new Date(), 60_000, 1, newOpCount())).toBe(
      'key-busy',
    );
    // The dispatching one ends: its slot is free.
    const active = await keySlots();
    expect(active.size).toBe(1);
    await active.docs[0]?.ref.update({ state: 'succeeded' });
    const fresh = (await queue.oldest(2)) as [QueueEntry, QueueEntry];
    const leases = await Promise.all([
      queue.leaseKeyed(fresh[0], 'd1', new Date(), 60_000, 1, newOpCount()),
      queue.leaseKeyed(fresh[1], 'd2', new Date(), 60_000, 1, newOpCount()),
    ]);
    const won = leases.filter((l) => l !== undefined && l !== 'key-busy');
    expect(won).toHaveLength(1);
    expect(leases.filter((l) => l === 'key-busy' || l === undefined)).toHaveLength(1);
    expect([first.docId, second.docId]).toEqual(fresh.map((e) => e.docId));
    const slots = await keySlots();
    expect(slots.size).toBe(1);
  });
});

describe('cancel, fail, depth', () => {
  const { db, queue } = open('store-queue-end');

  it('cancel and fail end an entry fenced on its read; a stale read changes nothing', async () => {
    await queueUp(queue, 3);
    const [a, b, c] = (await queue.oldest(3)) as [QueueEntry, QueueEntry, QueueEntry];
    expect(await queue.cancel(a, new Date(), newOpCount())).toBe(true);
    expect(await readDoc(db, a.docId)).toMatchObject({
      state: 'cancelled',
      error: { code: 'cancelled' },
    });
    const error = { code: 'invalid-stored-request', message: 'digest: does not match' };
    expect(await queue.fail(b, error, new Date(), newOpCount())).toBe(true);
    const failed = await readDoc(db, b.docId);
    expect(failed).toMatchObject({ state: 'failed', error });
    expect(failed?.pendingRequest).toBeUndefined();

    // A drainer that read c before a lease moved it must neither cancel nor fail it.
    expect(await queue.lease(c, 'holder', new Date(), 60_000, newOpCount())).toBeDefined();
    expect(await queue.cancel(c, new Date(), newOpCount())).toBe(false);
    expect(await queue.fail(c, error, new Date(), newOpCount())).toBe(false);
    expect((await readDoc(db, c.docId))?.state).toBe('dispatching');
  });

  it('depth counts what is still queued and gives the oldest queuedAt', async () => {
    const inputs = await queueUp(queue, 2);
    const depth = await queue.depth();
    expect(depth.depth).toBe(2);
    expect(depth.oldestQueuedAt).toEqual(inputs[0]?.now);
  });
});
