export { Admission, type AdmissionDeps } from './admission.ts';
export {
  exhaustedReason,
  RunBudget,
  type BudgetGauge,
  type BudgetSettings,
  type Refusal,
  type Ticket,
} from './budget.ts';
export type { ValidDelivery } from './delivery.ts';
export { Drainer, fairOrder, type DrainDeps, type DrainResult } from './drain.ts';
export { launchRequest, MaxRetriesCache } from './launch-request.ts';
export { QueueKnowledge } from './queue-knowledge.ts';
export { findStarted, startLeased, type StartResult } from './start.ts';
export { createDispatchStores, type DispatchStores } from './stores.ts';
// The ports and counters in dispatch's own signatures, for the layers that hand them in.
export type { Launcher } from '../launcher/index.ts';
export { newOpCount, type OpCount } from '../store/job-ops.ts';
