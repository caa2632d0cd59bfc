import { describe, expect, it } from 'vitest';
import {
  JOB_STATES,
  JOB_TRANSITIONS,
  TASK_STATES,
  assertJobTransition,
  canTransitionJob,
  isTerminalJobState,
  taskTransitionRefusal,
  TransitionError,
  type JobState,
} from '../../src/contract/index.ts';

const ALLOWED: Record<JobState | 'none', JobState[]> = {
  none: ['dispatching', 'queued', 'rejected', 'failed'],
  queued: ['dispatching', 'cancelled', 'failed'],
  dispatching: [
    'dispatching',
    'dispatched',
    'running',
    'succeeded',
    'failed',
    'cancelled',
    'queued',
  ],
  dispatched: ['running', 'succeeded', 'failed', 'cancelled'],
  running: ['succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
  rejected: [],
};

describe('job state machine', () => {
  const from: (JobState | 'none')[] = ['none', ...JOB_STATES];
  for (const f of from) {
    for (const t of JOB_STATES) {
      const allowed = ALLOWED[f].includes(t);
      it(`${f} → ${t} is ${allowed ? 'allowed' : 'refused'}`, () => {
        const fromState = f === 'none' ? undefined : f;
        expect(canTransitionJob(fromState, t)).toBe(allowed);
        if (allowed) expect(() => assertJobTransition(fromState, t)).not.toThrow();
        else expect(() => assertJobTransition(fromState, t)).toThrow(TransitionError);
      });
    }
  }

  it('the data table is the one tested here', () => {
    expect(JOB_TRANSITIONS).toEqual(ALLOWED);
  });

  it('terminal states have no way out and are the only ones without', () => {
    for (const s of JOB_STATES) {
      expect(isTerminalJobState(s)).toBe(JOB_TRANSITIONS[s].length === 0);
    }
  });

  it('names both ends in the error', () => {
    expect(() => assertJobTransition('succeeded', 'running')).toThrow(
      'job transition succeeded → running refused: not in the job state machine',
    );
  });
});

describe('task transitions, fenced on the attempt', () => {
  it('a first attempt may start from nothing: no pending state is ever required', () => {
    expect(taskTransitionRefusal(undefined, { state: 'running', attempt: 0 })).toBeUndefined();
    expect(taskTransitionRefusal(undefined, { state: 'running', attempt: 2 })).toBeUndefined();
  });

  it('a retry starts from failed (the seed article’s bug was to require pending)', () => {
    expect(
      taskTransitionRefusal({ state: 'failed', attempt: 0 }, { state: 'running', attempt: 1 }),
    ).toBeUndefined();
  });

  it('a new attempt after a silent kill starts from running', () => {
    expect(
      taskTransitionRefusal({ state: 'running', attempt: 0 }, { state: 'running', attempt: 1 }),
    ).toBeUndefined();
  });

  it('the same attempt moves forward out of running', () => {
    for (const to of TASK_STATES) {
      expect(
        taskTransitionRefusal({ state: 'running', attempt: 1 }, { state: to, attempt: 1 }),
      ).toBeUndefined();
    }
  });

  it('an older attempt never overwrites a newer one', () => {
    expect(
      taskTransitionRefusal({ state: 'running', attempt: 2 }, { state: 'failed', attempt: 1 }),
    ).toBe('attempt 1 is older than recorded attempt 2');
    expect(
      taskTransitionRefusal({ state: 'failed', attempt: 2 }, { state: 'succeeded', attempt: 0 }),
    ).toBe('attempt 0 is older than recorded attempt 2');
  });

  it('a finished attempt does not change again', () => {
    expect(
      taskTransitionRefusal({ state: 'failed', attempt: 1 }, { state: 'running', attempt: 1 }),
    ).toBe('attempt 1 is already failed');
  });

  it('a succeeded task is final, whatever the attempt', () => {
    for (const to of TASK_STATES) {
      expect(
        taskTransitionRefusal({ state: 'succeeded', attempt: 0 }, { state: to, attempt: 5 }),
      ).toBe('the task already succeeded');
    }
  });

  it('refuses a negative or fractional attempt', () => {
    expect(taskTransitionRefusal(undefined, { state: 'running', attempt: -1 })).toBe(
      'attempt must be a non-negative integer',
    );
    expect(taskTransitionRefusal(undefined, { state: 'running', attempt: 0.5 })).toBe(
      'attempt must be a non-negative integer',
    );
  });
});
