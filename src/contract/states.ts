/** Job states (DESIGN.md): the life of one request id. */
export const JOB_STATES = [
  'queued',
  'dispatching',
  'dispatched',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'rejected',
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Task states: a task attempt runs, then succeeds or fails; a retry runs again from `failed`. */
export const TASK_STATES = ['running', 'succeeded', 'failed'] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** `null` stands for "no document yet". */
export const JOB_TRANSITIONS: Readonly<Record<JobState | 'none', readonly JobState[]>> = {
  // none → failed: a dead-lettered message whose request id was never claimed.
  none: ['dispatching', 'queued', 'rejected', 'failed'],
  queued: ['dispatching', 'cancelled', 'failed'],
  // dispatching → dispatching is a lease takeover by another delivery. dispatching → running or
  // succeeded: the execution's tasks may start (and end) before the bridge records `dispatched`;
  // the bridge then records the execution without moving the state back.
  dispatching: [
    'dispatching',
    'dispatched',
    'running',
    'succeeded',
    'failed',
    'cancelled',
    'queued',
  ],
  // dispatched → succeeded/failed: the reconciler may see an execution end before any worker wrote.
  dispatched: ['running', 'succeeded', 'failed', 'cancelled'],
  running: ['succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
  rejected: [],
};

export const TASK_TRANSITIONS: Readonly<Record<TaskState | 'none', readonly TaskState[]>> = {
  none: ['running', 'failed', 'succeeded'],
  // running → running: an attempt killed without a word (SIGKILL, OOM) is followed by the next one.
  running: ['running', 'succeeded', 'failed'],
  // failed → running: Cloud Run's retry. Never through a required `pending` (the seed's retry bug).
  failed: ['running', 'failed', 'succeeded'],
  succeeded: [],
};

/** The states a job never leaves: those with no transition out. */
export const TERMINAL_JOB_STATES: readonly JobState[] = JOB_STATES.filter(
  (state) => JOB_TRANSITIONS[state].length === 0,
);

export function isTerminalJobState(state: JobState): boolean {
  return TERMINAL_JOB_STATES.includes(state);
}

/** A refused transition, with both ends named. */
export class TransitionError extends Error {
  override readonly name = 'TransitionError';
  readonly kind: 'job' | 'task';
  readonly from: string;
  readonly to: string;
  constructor(kind: 'job' | 'task', from: string, to: string, reason: string) {
    super(`${kind} transition ${from} → ${to} refused: ${reason}`);
    this.kind = kind;
    this.from = from;
    this.to = to;
  }
}

/** Whether a job may move from `from` (undefined: no document yet) to `to`. */
export function canTransitionJob(from: JobState | undefined, to: JobState): boolean {
  return JOB_TRANSITIONS[from ?? 'none'].includes(to);
}

export interface TaskAttemptState {
  state: TaskState;
  attempt: number;
}

/**
 * Checks a task transition, fenced on the attempt number: an older attempt can never overwrite a
 * newer one, and a new attempt may start from any non-terminal state. Returns a reason when
 * refused, undefined when allowed.
 */
export function taskTransitionRefusal(
  from: TaskAttemptState | undefined,
  to: TaskAttemptState,
): string | undefined {
  if (!Number.isInteger(to.attempt) || to.attempt < 0)
    return 'attempt must be a non-negative integer';
  if (from === undefined)
    return TASK_TRANSITIONS.none.includes(to.state) ? undefined : 'not allowed';
  if (from.state === 'succeeded') return 'the task already succeeded';
  if (to.attempt < from.attempt)
    return `attempt ${to.attempt} is older than recorded attempt ${from.attempt}`;
  // A newer attempt may start (or end) from any non-terminal state.
  if (to.attempt > from.attempt) return undefined;
  // The same attempt only moves forward out of running.
  if (from.state === 'running') return undefined;
  return `attempt ${to.attempt} is already ${from.state}`;
}

/** Throws a TransitionError unless the job transition is allowed. */
export function assertJobTransition(from: JobState | undefined, to: JobState): void {
  if (!canTransitionJob(from, to)) {
    throw new TransitionError('job', from ?? 'none', to, 'not in the job state machine');
  }
}

/**
 * A job with a claim on Cloud Run's capacity: being started, started, or running. These are the
 * jobs a `concurrencyKey` counts, and the ones a reconcile pass checks when they go quiet.
 */
export const ACTIVE_JOB_STATES: readonly JobState[] = ['dispatching', 'dispatched', 'running'];

/** A job a cancel can still stop: not yet ended, whether it waits in the queue or runs. */
export const CANCELLABLE_JOB_STATES: readonly JobState[] = ['queued', ...ACTIVE_JOB_STATES];

/**
 * A job whose tasks may have started although its document does not say `running` yet:
 * `dispatched`, or still `dispatching` when the tasks started before the bridge recorded the
 * execution (the bridge then records it without moving the state back).
 */
export const STARTING_JOB_STATES: readonly JobState[] = ['dispatching', 'dispatched'];

export function isStartingJobState(state: JobState | undefined): boolean {
  return state !== undefined && STARTING_JOB_STATES.includes(state);
}
