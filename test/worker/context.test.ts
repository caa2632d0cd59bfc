import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/contract/limits.ts';
import { ConfigError, parseWorkerConfig } from '../../src/config/index.ts';
import { shard, toTaskProgress } from '../../src/worker/context.ts';
import { PermanentError } from '../../src/worker/errors.ts';
import { decideOutcome } from '../../src/worker/outcome.ts';
import { loadFunction } from '../../src/worker/registry.ts';
import { createTestContext } from '../../src/worker/test-context.ts';
import { functions } from '../../functions/index.ts';

describe('shard', () => {
  it('every item goes to exactly one task, shares differ by at most one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer(), { maxLength: 200 }),
        fc.integer({ min: 1, max: 20 }),
        (items, count) => {
          const shares = Array.from({ length: count }, (_, i) => shard(items, i, count));
          expect(shares.flat().sort()).toEqual([...items].sort());
          const sizes = shares.map((s) => s.length);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        },
      ),
    );
  });
});

describe('test context', () => {
  it('emits progress and result events the function reports', () => {
    const t = createTestContext({ args: ['a', 'b', 'c'], taskIndex: 1, taskCount: 2 });
    const events: string[] = [];
    t.events.on('progress', (p) => events.push(`progress ${p.done}/${p.total}`));
    t.events.on('result', (r) => events.push(`result ${JSON.stringify(r)}`));
    expect(t.context.shard(t.context.args)).toEqual(['b']);
    t.context.progress(5, 4, 'clamped');
    t.context.result({ n: 1 });
    expect(events).toEqual(['progress 4/4', 'result {"n":1}']);
    expect(t.progress[0]).toEqual({ done: 4, total: 4, ratio: 1, message: 'clamped' });
  });

  it('refuses a result over the size limit, naming it', () => {
    const t = createTestContext();
    expect(() => t.context.result({ big: 'x'.repeat(LIMITS.taskResultMaxBytes) })).toThrow(
      /over the 16384-byte limit/,
    );
  });

  it('abort() fires the signal', () => {
    const t = createTestContext();
    t.abort();
    expect(t.context.signal.aborted).toBe(true);
  });

  it('progress values are normalised (NaN, negative, zero total)', () => {
    expect(toTaskProgress(Number.NaN, 10)).toEqual({ done: 0, total: 10, ratio: 0, message: null });
    expect(toTaskProgress(3, 0)).toEqual({ done: 3, total: 0, ratio: 0, message: null });
  });
});

describe('config', () => {
  it('names the field and the reason', () => {
    expect(() => parseWorkerConfig({})).toThrow(
      new ConfigError('JOBBRIDGE_REQUEST_ID', 'is required (set by Cloud Run or the bridge)'),
    );
    expect(() =>
      parseWorkerConfig({ JOBBRIDGE_REQUEST_ID: 'r', CLOUD_RUN_TASK_ATTEMPT: 'x' }),
    ).toThrow('CLOUD_RUN_TASK_ATTEMPT must be a non-negative integer, got "x"');
    expect(() =>
      parseWorkerConfig({
        JOBBRIDGE_REQUEST_ID: 'r',
        CLOUD_RUN_TASK_INDEX: '4',
        CLOUD_RUN_TASK_COUNT: '4',
      }),
    ).toThrow(/CLOUD_RUN_TASK_INDEX must be below/);
  });
  it('defaults: collection jobs, job id = request id, 1000 ms progress interval', () => {
    const c = parseWorkerConfig({ JOBBRIDGE_REQUEST_ID: 'r' });
    expect(c).toMatchObject({
      collection: 'jobs',
      jobId: 'r',
      progressIntervalMs: 1000,
      maxRetries: undefined,
      taskCount: 1,
    });
  });
});

describe('outcome', () => {
  const base = { progress: toTaskProgress(1, 2), result: null };
  it('willRetry follows the attempt and maxRetries; permanent exits 0; thrown exits 1', () => {
    expect(
      decideOutcome(
        { kind: 'threw', error: new Error('x') },
        { ...base, attempt: 0, maxRetries: 1 },
      ),
    ).toMatchObject({
      exitCode: 1,
      outcome: { willRetry: true, error: { code: 'error', message: 'x' } },
    });
    expect(
      decideOutcome({ kind: 'threw', error: 'str' }, { ...base, attempt: 1, maxRetries: 1 }).outcome
        .willRetry,
    ).toBe(false);
    expect(
      decideOutcome(
        { kind: 'threw', error: new PermanentError('p') },
        { ...base, attempt: 0, maxRetries: 3 },
      ),
    ).toMatchObject({
      exitCode: 0,
      outcome: { state: 'failed', willRetry: false, error: { code: 'permanent' } },
    });
    expect(
      decideOutcome(
        { kind: 'threw', error: { nonRetryable: true, message: 'flag' } },
        { ...base, attempt: 0, maxRetries: 3 },
      ).exitCode,
    ).toBe(0);
    expect(
      decideOutcome({ kind: 'returned', value: 1 }, { ...base, attempt: 0, maxRetries: 0 }).outcome
        .progress,
    ).toMatchObject({ done: 2, ratio: 1 });
  });
});

describe('registry', () => {
  it('loads a function by name; an unknown name is a PermanentError listing the known ones', async () => {
    expect(typeof (await loadFunction(functions, 'simulate'))).toBe('function');
    await expect(loadFunction(functions, 'toString')).rejects.toThrow(PermanentError);
    await expect(loadFunction(functions, 'nope')).rejects.toThrow(
      'function "nope" is not in the registry (known: echo, fan-out, simulate)',
    );
  });
});
