import type { Firestore } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listJobs, queueSummary, watchJobs, type JobsChange } from '../../src/consumer/index.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { waitFor } from '../../bench/lib/poll.ts';
import { jobRef, writeJob } from './job-fixtures.ts';

let db: Firestore;
const at = (minutesAgo: number): Date => new Date(Date.now() - minutesAgo * 60_000);
const ids = (items: { job: { requestId: string } }[]): string[] =>
  items.map((i) => i.job.requestId);

beforeAll(() => {
  db = testFirestore(testProjectId('jobs-list'));
});
afterAll(async () => {
  await db.terminate();
});

describe('listJobs by job name and by page', () => {
  const collection = 'pages';
  beforeAll(async () => {
    const same = at(5);
    await writeJob(db, 'p-1', { job: 'export', createdAt: at(50) }, collection);
    await writeJob(db, 'p-2', { job: 'import', createdAt: at(40) }, collection);
    // Two jobs created at the same instant: the cursor must not skip or repeat either.
    await writeJob(db, 'p-3a', { job: 'export', createdAt: same }, collection);
    await writeJob(db, 'p-3b', { job: 'export', createdAt: same }, collection);
    await writeJob(db, 'p-4', { job: 'export', createdAt: at(1) }, collection);
  });

  it('filters by job', async () => {
    expect(ids(await listJobs(db, { collection, job: 'import' }))).toEqual(['p-2']);
    expect(ids(await listJobs(db, { collection, job: 'export' }))).toEqual([
      'p-4',
      'p-3b',
      'p-3a',
      'p-1',
    ]);
  });

  it('pages through every job once, ties included', async () => {
    const seen: string[] = [];
    let after;
    for (let page = 0; page < 10; page++) {
      const items = await listJobs(db, { collection, limit: 2, ...(after ? { after } : {}) });
      if (items.length === 0) break;
      seen.push(...ids(items));
      const last = items[items.length - 1];
      if (!last) break;
      after = { time: last.job.createdAt, documentId: last.documentId };
    }
    expect(seen).toEqual(['p-4', 'p-3b', 'p-3a', 'p-2', 'p-1']);
  });
});

describe('watchJobs', () => {
  const collection = 'watched';

  it('delivers the list, then each change, counting the documents sent', async () => {
    await writeJob(db, 'w-old', { state: 'running', createdAt: at(10) }, collection);
    const changes: JobsChange[] = [];
    const stop = watchJobs(db, { collection, states: ['running'] }, (c) => changes.push(c));
    try {
      await waitFor('the first snapshot', () => (changes.length > 0 ? true : undefined));
      expect(ids(changes[0]?.items ?? [])).toEqual(['w-old']);
      expect(changes[0]?.reads).toBe(1);

      await writeJob(db, 'w-new', { state: 'running', createdAt: at(1) }, collection);
      const added = await waitFor('the new job', () => changes.find((c) => c.items.length === 2));
      expect(ids(added.items)).toEqual(['w-new', 'w-old']);
      expect(added.reads).toBe(1);

      // A job leaving the filter leaves the list, and costs no read.
      await jobRef(db, 'w-old', collection).update({ state: 'succeeded' });
      const left = await waitFor('the job to leave', () =>
        changes.find((c, i) => i > changes.indexOf(added) && c.items.length === 1),
      );
      expect(ids(left.items)).toEqual(['w-new']);
      expect(left.reads).toBe(0);
    } finally {
      stop();
    }
  });

  it('an empty list is delivered too, at one read', async () => {
    const changes: JobsChange[] = [];
    const stop = watchJobs(db, { collection: 'nothing-here' }, (c) => changes.push(c));
    try {
      const first = await waitFor('the first snapshot', () => changes[0]);
      expect(first).toEqual({ items: [], reads: 1 });
    } finally {
      stop();
    }
  });
});

describe('queueSummary', () => {
  it('counts queued jobs and finds the oldest', async () => {
    const collection = 'queue';
    expect(await queueSummary(db, { collection })).toMatchObject({
      depth: 0,
      oldestQueuedAt: null,
      oldestRequestId: null,
    });
    await writeJob(db, 'q-run', { state: 'running', createdAt: at(60) }, collection);
    await writeJob(db, 'q-new', { state: 'queued', createdAt: at(2) }, collection);
    const queuedAt = at(9);
    await writeJob(db, 'q-old', { state: 'queued', createdAt: at(9) }, collection);
    await jobRef(db, 'q-old', collection).update({
      queue: { reason: 'runjob-rate', queuedAt },
    });
    const summary = await queueSummary(db, { collection });
    expect(summary).toMatchObject({ depth: 2, oldestRequestId: 'q-old' });
    expect(summary.oldestQueuedAt?.getTime()).toBe(queuedAt.getTime());
  });
});
