export { DEFAULT_RECONCILE_OPTIONS, type ReconcileOptions } from '../config/index.ts';
export {
  executionOutcome,
  RECONCILE_ERROR_CODES,
  type ExecutionOutcome,
} from './execution-outcome.ts';
export {
  reconcile,
  type ReconcileDeps,
  type ReconcilePassOptions,
  type ReconcileResult,
} from './reconcile.ts';
export {
  endWithoutDispatch,
  reconcileJob,
  settleDispatching,
  type ActionKind,
  type JobAction,
  type JobContext,
} from './reconcile-job.ts';
export {
  reconcileAll,
  type ReconcileAllDeps,
  type ReconcileAllOptions,
  type ReconcileAllResult,
} from './reconcile-all.ts';
export { settleDeadLetter, type DeadLetter, type DeadLetterSettleDeps } from './dead-letter.ts';
