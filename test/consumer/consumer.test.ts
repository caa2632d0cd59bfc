import type { Firestore } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelJob,
  getJob,
  listJobs,
  waitForJob,
  WaitTimeoutError,
  watchJob,
  type JobSnapshot,
} from '../../src/consumer/index.ts';
import { HASHED_ID_PREFIX, type JobState } from '../../src/contract/index.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { jobRef, writeJob, writeTask } from './job-fixtures.ts';

let db: Firestore;

beforeAll(() => {
  db = testFirestore(testProjectId('consumer'));
});
afterAll(async () => {
  await db.terminate();
});

/** Collects watch snapshots and resolves waiters when one matches. */
function collector() {
  const seen: JobSnapshot[] = [];
  const waiters: { test: (s: JobSnapshot) => boolean; resolve: (s: JobSnapshot) => void }[] = [];
  return {
    seen,
    onChange(snapshot: JobSnapshot) {
      seen.push(snapshot);
      for (const w of [...waiters]) {
        if (w.test(snapshot)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(snapshot);
        }
      }
    },
    until(test: (s: JobSnapshot) => boolean): Promise<JobSnapshot> {
      const found = seen.find(test);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ test, resolve }));
    },
  };
}

describe('watchJob', () => {
  it('reports a missing job as null, then the job with its tasks in index order and Dates', async () => {
    const c = collector();
    const stop = watchJob(db, 'watch-1', (s) => c.onChange(s));
    try {
      const first = await c.until(() => true);
      expect(first).toMatchObject({
        requestId: 'watch-1',
        documentId: 'watch-1',
        job: null,
        tasks: [],
      });

      await writeJob(db, 'watch-1', { state: 'running', taskCount: 11 });
      await writeTask(db, 'watch-1', 10, {
        progress: { done: 5, total: 10, ratio: 0.5, message: 'half' },
      });
      await writeTask(db, 'watch-1', 2, {
        state: 'succeeded',
        progress: { done: 10, total: 10, ratio: 1 },
      });
      const both = await c.until((s) => s.tasks.length === 2);
      expect(both.job?.state).toBe('running');
      expect(both.job?.createdAt).toBeInstanceOf(Date);
      expect(both.tasks.map((t) => t.taskIndex)).toEqual([2, 10]);
      expect(both.tasks[1]?.heartbeatAt).toBeInstanceOf(Date);
      expect(both.tasks[1]?.progress.message).toBe('half');
    } finally {
      stop();
    }
  });

  it('stops calling back after unsubscribe', async () => {
    const c = collector();
    await writeJob(db, 'watch-2', { state: 'running' });
    const stop = watchJob(db, 'watch-2', (s) => c.onChange(s));
    await c.until((s) => s.job?.state === 'running');
    stop();
    const count = c.seen.length;
    await jobRef(db, 'watch-2').update({ state: 'succeeded' });
    // A second watcher seeing the update proves it was delivered while the first was stopped.
    await waitForJob(db, 'watch-2', { timeoutMs: 10_000 });
    expect(c.seen.length).toBe(count);
  });

  it('finds a request id that is not a valid document id under its hash', async () => {
    const requestId = 'tenant/acme/export';
    await writeJob(db, requestId, { state: 'running' });
    const snap = await getJob(db, requestId);
    expect(snap.documentId.startsWith(HASHED_ID_PREFIX)).toBe(true);
    expect(snap.job?.requestId).toBe(requestId);
  });
});

describe('waitForJob', () => {
  it('resolves only when the job reaches a terminal state', async () => {
    await writeJob(db, 'wait-1', { state: 'dispatched' });
    let settled = false;
    const waiting = waitForJob(db, 'wait-1', { timeoutMs: 20_000 }).finally(() => (settled = true));
    await jobRef(db, 'wait-1').update({ state: 'running' });
    // Reading the running state back through a second listener orders it before the check.
    const c = collector();
    const stop = watchJob(db, 'wait-1', (s) => c.onChange(s));
    await c.until((s) => s.job?.state === 'running');
    stop();
    expect(settled).toBe(false);
    await jobRef(db, 'wait-1').update({
      state: 'failed',
      error: { code: 'EXIT_1', message: 'boom' },
    });
    const done = await waiting;
    expect(done.job).toMatchObject({ state: 'failed', error: { code: 'EXIT_1' } });
  });

  it('waits for a job that does not exist yet', async () => {
    const waiting = waitForJob(db, 'wait-2', { timeoutMs: 20_000 });
    await writeJob(db, 'wait-2', { state: 'succeeded' });
    expect((await waiting).job?.state).toBe('succeeded');
  });

  it('rejects with WaitTimeoutError naming the last state on timeout', async () => {
    await writeJob(db, 'wait-3', { state: 'running' });
    const err: unknown = await waitForJob(db, 'wait-3', { timeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as WaitTimeoutError).message).toMatch(/wait-3 did not finish within 300 ms/);
  });

  it('rejects with the abort reason when the signal aborts', async () => {
    const controller = new AbortController();
    const waiting = waitForJob(db, 'wait-4', { signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await expect(waiting).rejects.toThrow('shutting down');
    await expect(waitForJob(db, 'wait-4', { signal: controller.signal })).rejects.toThrow(
      'shutting down',
    );
  });
});

describe('listJobs', () => {
  const collection = 'list-jobs';
  const at = (minutesAgo: number): Date => new Date(Date.now() - minutesAgo * 60_000);

  beforeAll(async () => {
    const jobs: [string, JobState, string, number][] = [
      ['l-old', 'succeeded', 'acme', 120],
      ['l-run', 'running', 'acme', 30],
      ['l-fail', 'failed', 'other', 20],
      ['l-new', 'succeeded', 'acme', 10],
    ];
    for (const [id, state, tenant, minutesAgo] of jobs)
      await writeJob(db, id, { state, labels: { tenant }, createdAt: at(minutesAgo) }, collection);
  });

  const ids = (items: { job: { requestId: string } }[]): string[] =>
    items.map((i) => i.job.requestId);

  it('lists newest first', async () => {
    expect(ids(await listJobs(db, { collection }))).toEqual(['l-new', 'l-fail', 'l-run', 'l-old']);
  });
  it('filters by state', async () => {
    expect(ids(await listJobs(db, { collection, states: ['succeeded'] }))).toEqual([
      'l-new',
      'l-old',
    ]);
    expect(ids(await listJobs(db, { collection, states: ['running', 'failed'] }))).toEqual([
      'l-fail',
      'l-run',
    ]);
  });
  it('filters by label', async () => {
    expect(ids(await listJobs(db, { collection, labels: { tenant: 'acme' } }))).toEqual([
      'l-new',
      'l-run',
      'l-old',
    ]);
  });
  it('filters by time and combines filters', async () => {
    expect(ids(await listJobs(db, { collection, since: at(60), until: at(15) }))).toEqual([
      'l-fail',
      'l-run',
    ]);
    expect(
      ids(
        await listJobs(db, {
          collection,
          since: at(60),
          labels: { tenant: 'acme' },
          states: ['succeeded'],
        }),
      ),
    ).toEqual(['l-new']);
    expect(ids(await listJobs(db, { collection, limit: 1 }))).toEqual(['l-new']);
  });
});

describe('cancelJob', () => {
  const collection = 'cancel-jobs';

  it('sets cancelRequested once, and says so when asked again', async () => {
    await writeJob(db, 'c-run', { state: 'running' }, collection);
    expect(await cancelJob(db, 'c-run', { collection })).toEqual({ outcome: 'requested' });
    expect((await jobRef(db, 'c-run', collection).get()).data()?.cancelRequested).toBe(true);
    expect(await cancelJob(db, 'c-run', { collection })).toEqual({ outcome: 'already-requested' });
  });

  it('leaves an ended job alone and reports a missing one', async () => {
    await writeJob(db, 'c-done', { state: 'succeeded' }, collection);
    expect(await cancelJob(db, 'c-done', { collection })).toEqual({
      outcome: 'finished',
      state: 'succeeded',
    });
    expect((await jobRef(db, 'c-done', collection).get()).data()?.cancelRequested).toBeUndefined();
    expect(await cancelJob(db, 'c-none', { collection })).toEqual({ outcome: 'not-found' });
  });
});
