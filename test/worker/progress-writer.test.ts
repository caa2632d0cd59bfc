import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.ts';
import { beginAttempt, FencedError, type TaskWriter } from '../../src/store/task-store.ts';
import { toTaskProgress } from '../../src/worker/context.ts';
import { isRetryable } from '../../src/errors/index.ts';

const isRetryableFirestoreError = (err: unknown) => isRetryable(err, 'firestore');
import { ProgressWriter } from '../../src/worker/progress-writer.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { readTask, waitFor } from './helpers.ts';

const db = testFirestore(testProjectId('progress'));
const where = (jobId: string) => ({ collection: 'jobs', jobId, taskIndex: 0 });
afterAll(async () => {
  await db.terminate();
});

async function begin(jobId: string, attempt = 0): Promise<TaskWriter> {
  const r = await beginAttempt(db, where(jobId), attempt, 'exec');
  if (r.kind !== 'started') throw new Error(`not started: ${r.kind}`);
  return r.writer;
}

function writerFor(
  sink: TaskWriter | { progress: TaskWriter['progress'] },
  intervalMs: number,
  heartbeatIntervalMs = 60_000,
) {
  return new ProgressWriter({
    sink,
    log: silentLogger(),
    intervalMs,
    heartbeatIntervalMs,
    isRetryable: isRetryableFirestoreError,
    isFenced: (err) => err instanceof FencedError,
  });
}

describe('progress writer on the Firestore emulator', () => {
  it('100,000 progress() calls over 5 s → at most ~6 writes, each call cheap, the final value exact', async () => {
    const task = await begin('hundred-k');
    const writer = writerFor(task, 1000);
    const calls = 100_000;
    const started = Date.now();
    for (let i = 1; i <= calls; i++) {
      writer.report(toTaskProgress(i, calls, `item ${i}`));
      // Spread the calls over 5 s: yield to the event loop every 2,000 calls.
      if (i % 2000 === 0)
        await new Promise((r) =>
          setTimeout(r, Math.max(0, started + (i / calls) * 5000 - Date.now())),
        );
    }
    const last = await writer.stop();
    await task.finish({
      state: 'succeeded',
      willRetry: false,
      error: null,
      progress: last,
      result: null,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
    expect(writer.writes).toBeLessThanOrEqual(6);
    // begin + progress writes + the terminal write: nothing else touched the document.
    expect(task.writes).toBe(writer.writes + 1);
    const doc = await readTask(db, 'hundred-k', 0);
    expect(doc?.progress).toEqual({
      done: calls,
      total: calls,
      ratio: 1,
      message: `item ${calls}`,
    });
  });

  it('the latest value wins and lands within the interval', async () => {
    const task = await begin('latest');
    const writer = writerFor(task, 100);
    for (let i = 1; i <= 50; i++) writer.report(toTaskProgress(i, 50));
    await waitFor('latest written', async () =>
      (await readTask(db, 'latest', 0))?.progress.done === 50 ? true : undefined,
    );
    expect(writer.writes).toBeLessThanOrEqual(2);
    await writer.stop();
  });

  it('transient errors are retried with backoff and never reach the caller', async () => {
    const task = await begin('transient');
    let failuresLeft = 3;
    const seen: number[] = [];
    const flaky = {
      progress: async (p: ReturnType<typeof toTaskProgress>) => {
        seen.push(p.done);
        if (failuresLeft-- > 0) throw Object.assign(new Error('unavailable'), { code: 14 });
        await task.progress(p);
      },
    };
    const writer = writerFor(flaky, 20);
    expect(() => writer.report(toTaskProgress(7, 10))).not.toThrow();
    await waitFor('value landed after retries', async () =>
      (await readTask(db, 'transient', 0))?.progress.done === 7 ? true : undefined,
    );
    expect(seen).toEqual([7, 7, 7, 7]);
    await writer.stop();
  });

  it('heartbeat: while progress is idle, heartbeatAt is refreshed', async () => {
    const task = await begin('heartbeat');
    const before = (await readTask(db, 'heartbeat', 0))!.heartbeatAt as unknown as {
      toMillis(): number;
    };
    const writer = writerFor(task, 50, 150);
    await waitFor('heartbeat', async () => {
      const now = (await readTask(db, 'heartbeat', 0))!.heartbeatAt as unknown as {
        toMillis(): number;
      };
      return now.toMillis() > before.toMillis() ? true : undefined;
    });
    await writer.stop();
  });

  it('fencing: a late write from an older attempt cannot overwrite the newer attempt', async () => {
    const old = await begin('fence', 0);
    await old.progress(toTaskProgress(1, 10));
    const newer = await begin('fence', 1);
    await newer.progress(toTaskProgress(9, 10, 'attempt 1'));
    await expect(old.progress(toTaskProgress(2, 10, 'late'))).rejects.toBeInstanceOf(FencedError);
    await expect(
      old.finish({
        state: 'failed',
        willRetry: true,
        error: { code: 'error', message: 'late' },
        progress: toTaskProgress(2, 10),
        result: null,
      }),
    ).rejects.toBeInstanceOf(FencedError);
    // Beginning an older attempt again is refused too.
    expect((await beginAttempt(db, where('fence'), 0, 'exec')).kind).toBe('fenced');
    expect(await readTask(db, 'fence', 0)).toMatchObject({
      state: 'running',
      attempt: 1,
      progress: { done: 9, message: 'attempt 1' },
    });
    // A progress writer whose attempt was fenced stops writing instead of throwing.
    const writer = writerFor(old, 10);
    writer.report(toTaskProgress(3, 10));
    await waitFor('fenced', () => Promise.resolve(writer.fenced ? true : undefined));
    await writer.stop();
  });

  it('a succeeded task is never restarted, whatever the attempt', async () => {
    const t = await begin('done', 0);
    await t.finish({
      state: 'succeeded',
      willRetry: false,
      error: null,
      progress: toTaskProgress(1, 1),
      result: { ok: true },
    });
    expect(await beginAttempt(db, where('done'), 3, 'exec')).toEqual({
      kind: 'already-succeeded',
      attempt: 0,
    });
  });
});
