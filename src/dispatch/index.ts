export { Dispatcher, type CrashPoint, type DispatcherDeps } from './dispatcher.ts';
export type { ValidDelivery } from './delivery.ts';
export { launchRequest, MaxRetriesCache } from './launch-request.ts';
export {
  LaunchLimiter,
  type Admission,
  type LimiterGauge,
  type LimiterSettings,
  type LimitKind,
  type Permit,
} from './limiter.ts';
export {
  dispatchAllQueued,
  dispatchQueued,
  type QueueDeps,
  type QueuedDispatch,
} from './queued.ts';
