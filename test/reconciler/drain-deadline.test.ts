import { describe, expect, it } from 'vitest';
import { drainDeadline, MIN_DRAIN_AFTER_PASSES_MS } from '../../src/reconciler/reconcile-all.ts';

describe('the drain after a reconcile call’s passes', () => {
  it('runs until the deadline the caller gave when the passes were quick', () => {
    expect(drainDeadline(0, 4500, 300)).toBe(4500);
  });

  it('still gets its time after passes that outlasted the whole drain time', () => {
    // A dev-stack call (drain 4.5 s) whose passes over many running jobs took 12 s.
    expect(drainDeadline(0, 4500, 12_000)).toBe(12_000 + MIN_DRAIN_AFTER_PASSES_MS);
    // A call that asked for less than the minimum gets what it asked for, after the passes.
    expect(drainDeadline(0, 500, 12_000)).toBe(12_500);
  });

  it('a call that asked for no drain gets none', () => {
    expect(drainDeadline(1000, 1000, 9000)).toBe(9000);
  });
});
