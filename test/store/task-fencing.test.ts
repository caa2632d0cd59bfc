import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  beginAttempt,
  EMPTY_PROGRESS,
  FencedError,
  type TaskWriter,
} from '../../src/store/task-store.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { COLLECTION } from './rig.ts';

/**
 * Task attempt fencing (src/store/task-store.ts) against the Firestore emulator: Cloud Run's
 * retry of a task is a new attempt, and once it began, nothing the older attempt writes lands.
 */
const db = testFirestore(testProjectId('store-tasks'));
afterAll(async () => {
  await db.terminate();
});

const where = () => ({ collection: COLLECTION, jobId: `job-${randomUUID()}`, taskIndex: 0 });
const task = async (w: ReturnType<typeof where>) =>
  (
    await db.collection(COLLECTION).doc(w.jobId).collection('tasks').doc(String(w.taskIndex)).get()
  ).data();

async function started(w: ReturnType<typeof where>, attempt: number): Promise<TaskWriter> {
  const begun = await beginAttempt(db, w, attempt, `exec-${attempt}`, false);
  if (begun.kind !== 'started') throw new Error(`attempt ${attempt}: ${JSON.stringify(begun)}`);
  return begun.writer;
}

const failedOutcome = {
  state: 'failed' as const,
  willRetry: true,
  error: { code: 'error', message: 'boom' },
  progress: EMPTY_PROGRESS,
  result: null,
};
const succeededOutcome = {
  state: 'succeeded' as const,
  willRetry: false,
  error: null,
  progress: { done: 1, total: 1, ratio: 1, message: null },
  result: { ok: true },
};

describe('task attempt fencing', () => {
  it("a retry takes over from a failed attempt (no pending needed), and the old attempt's late writes are refused", async () => {
    const w = where();
    const first = await started(w, 0);
    await first.progress({ done: 1, total: 4, ratio: 0.25, message: null });
    await first.finish(failedOutcome);
    const second = await started(w, 1);
    await expect(
      first.progress({ done: 4, total: 4, ratio: 1, message: 'late' }),
    ).rejects.toBeInstanceOf(FencedError);
    await expect(first.finish(succeededOutcome)).rejects.toBeInstanceOf(FencedError);
    expect(await task(w)).toMatchObject({ attempt: 1, state: 'running', execution: 'exec-1' });
    await second.finish(succeededOutcome);
    expect(await task(w)).toMatchObject({ attempt: 1, state: 'succeeded' });
  });

  it('an older attempt still running when the newer one starts cannot end the task', async () => {
    const w = where();
    const stuck = await started(w, 0);
    const retry = await started(w, 1);
    await expect(stuck.finish(failedOutcome)).rejects.toThrow(/now holds attempt 1 running/);
    await retry.progress({ done: 1, total: 2, ratio: 0.5, message: null });
    expect(await task(w)).toMatchObject({ attempt: 1, state: 'running', progress: { done: 1 } });
  });

  it('an older attempt cannot begin again after a newer one, and a succeeded task stays succeeded', async () => {
    const w = where();
    await started(w, 2);
    expect(await beginAttempt(db, w, 1, 'exec-1', false)).toMatchObject({
      kind: 'fenced',
      reason: 'attempt 1 is older than recorded attempt 2',
    });
    const done = await started(where(), 0);
    await done.finish(succeededOutcome);
    const w2 = { ...where(), jobId: done.ref.parent.parent?.id ?? '' };
    expect(await beginAttempt(db, w2, 1, 'exec-1', false)).toEqual({
      kind: 'already-succeeded',
      attempt: 0,
    });
  });

  it('two attempts beginning at once: the newer holds the document, whatever the order', async () => {
    const w = where();
    await started(w, 0);
    const results = await Promise.all([
      beginAttempt(db, w, 1, 'exec-1', false),
      beginAttempt(db, w, 2, 'exec-2', false),
    ]);
    expect(results.some((r) => r.kind === 'started')).toBe(true);
    expect(await task(w)).toMatchObject({ attempt: 2, state: 'running', execution: 'exec-2' });
  });
});
