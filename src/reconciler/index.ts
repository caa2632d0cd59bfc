export {
  DEFAULT_RECONCILE_OPTIONS,
  loadReconcilerConfig,
  RECONCILER_ENV,
  ReconcilerConfigError,
  type ReconcileOptions,
  type ReconcilerConfig,
} from './config.ts';
export {
  executionOutcome,
  RECONCILE_ERROR_CODES,
  type ExecutionOutcome,
} from './execution-outcome.ts';
export {
  reconcile,
  CANCELLABLE_STATES,
  STALE_STATES,
  type ReconcileDeps,
  type ReconcilePassOptions,
  type ReconcileResult,
} from './reconcile.ts';
export type { ActionKind, JobAction } from './reconcile-job.ts';
export {
  DEAD_LETTER_ATTRIBUTES,
  DEAD_LETTER_PATH,
  deadLetterRoute,
  handleDeadLetter,
  type DeadLetterDeps,
  type DeadLetterOutcome,
  type DeadLetterResult,
} from './dead-letter.ts';
