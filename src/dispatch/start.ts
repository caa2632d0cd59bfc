import {
  BRIDGE_EXECUTION_ENV,
  type ErrorInfo,
  type JobRequest,
  type QueueReason,
} from '../contract/index.ts';
import { errorInfo, hasGrpcCode, isRetryable, status } from '../errors/index.ts';
import type { ExecutionSummary, Launcher } from '../launcher/index.ts';
import type { OpCount } from '../store/job-ops.ts';
import type { Lease } from '../store/job-repository.ts';
import type { JobDispatchStore } from '../store/port.ts';
import { exhaustedReason, type Ticket } from './budget.ts';
import { launchRequest, type MaxRetriesCache } from './launch-request.ts';

/** What starting one leased request did. */
export type StartResult =
  | { kind: 'dispatched'; executionName: string }
  | { kind: 'adopted'; executionName: string }
  | { kind: 'requeued'; reason: QueueReason; error: ErrorInfo }
  | { kind: 'failed'; error: ErrorInfo }
  | { kind: 'lease-lost'; executionName?: string };

export interface StartDeps {
  repository: JobDispatchStore;
  launcher: Launcher;
  maxRetries: MaxRetriesCache;
  now: () => Date;
}

/** The leased request: what to run and where it stands in the queue. */
export interface LeasedRequest {
  lease: Lease;
  requestId: string;
  request: JobRequest;
  /** Its place in the queue, kept if it has to go back. */
  queuedAt?: Date | undefined;
}

/**
 * Starts a request whose lease we hold, spending `ticket`: RunJob (never awaited to the end), then
 * `dispatched` recorded while the lease is ours. A retryable launch error puts the request back in
 * the queue — RESOURCE_EXHAUSTED also tells the budget to slow down — so no Pub/Sub delivery
 * attempt is spent on it; a permanent one records `failed`. Firestore errors are thrown: after a
 * RunJob they must never requeue (that would run it twice); the lease expires and the execution
 * is adopted by whoever takes the entry over.
 */
export async function startLeased(
  deps: StartDeps,
  leased: LeasedRequest,
  ticket: Ticket,
  ops: OpCount,
): Promise<StartResult> {
  const { lease, request } = leased;
  const secrets = Object.values(request.env ?? {});
  let maxRetries: number;
  try {
    maxRetries = await deps.maxRetries.get(request.job);
  } catch (err: unknown) {
    ticket.unused();
    return onLaunchError(deps, leased, err, secrets, ops, false);
  }
  let launched;
  try {
    const ids = { requestId: leased.requestId, docId: lease.docId, maxRetries };
    launched = await deps.launcher.launch(launchRequest(request, ids));
  } catch (err: unknown) {
    if (hasGrpcCode(err, status.RESOURCE_EXHAUSTED)) ticket.exhausted(exhaustedReason(err));
    else ticket.failed();
    return onLaunchError(deps, leased, err, secrets, ops, true);
  }
  ticket.launched();
  const record = { ...launched, adopted: false };
  const held = await deps.repository.recordDispatched(lease, record, deps.now(), ops);
  return held
    ? { kind: 'dispatched', executionName: launched.executionName }
    : { kind: 'lease-lost', executionName: launched.executionName };
}

async function onLaunchError(
  deps: StartDeps,
  leased: LeasedRequest,
  err: unknown,
  secrets: readonly string[],
  ops: OpCount,
  called: boolean,
): Promise<StartResult> {
  const error = errorInfo(err, secrets);
  if (isRetryable(err, 'cloud-run')) {
    const exhausted = hasGrpcCode(err, status.RESOURCE_EXHAUSTED);
    const reason = exhausted ? exhaustedReason(err) : 'runjob-rate';
    // Only RESOURCE_EXHAUSTED says for sure that nothing started; after any other error the call
    // may have reached Cloud Run, so the next try looks for its execution first.
    const queue = { reason, checkStarted: called && !exhausted, queuedAt: leased.queuedAt };
    const held = await deps.repository.requeue(leased.lease, queue, deps.now(), ops);
    return held ? { kind: 'requeued', reason, error } : { kind: 'lease-lost' };
  }
  const held = await deps.repository.recordFailed(leased.lease, error, deps.now(), ops);
  return held ? { kind: 'failed', error } : { kind: 'lease-lost' };
}

/** An execution already started for this request id (by a holder that died), if any. */
export async function findStarted(
  launcher: Launcher,
  jobs: readonly string[],
  requestId: string,
): Promise<ExecutionSummary | undefined> {
  const names = [...new Set(jobs.filter((j) => j !== ''))];
  const found = await Promise.all(
    names.map((job) =>
      launcher.findExecutionsByEnv(job, BRIDGE_EXECUTION_ENV.requestId, requestId),
    ),
  );
  return found.flat()[0];
}
