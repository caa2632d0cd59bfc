import { randomUUID } from 'node:crypto';
import { status as grpcStatus } from '@grpc/grpc-js';
import { BRIDGE_EXECUTION_ENV, jobDocumentId, type ErrorInfo } from '../contract/index.ts';
import { grpcCode, isRetryable, type Launcher } from '../launcher/index.ts';
import type { ClaimInput } from '../store/job-claim-document.ts';
import type { OpCount } from '../store/job-ops.ts';
import type { ExistingJob, JobRepository, Lease } from '../store/job-repository.ts';
import type { TestFault } from './config.ts';
import { launchRequest, MaxRetriesCache } from './launch-request.ts';
import { outcome, type Outcome } from './outcomes.ts';
import type { ValidDelivery } from './push-envelope.ts';

export interface DispatcherDeps {
  repository: JobRepository;
  launcher: Launcher;
  leaseMs: number;
  retentionMs: number;
  now?: () => Date;
  /** Called at each crash point; only the test fault hook does anything there. */
  fault?: (point: TestFault) => void;
}

/** A Firestore failure: never the request's fault, so always worth a redelivery. */
class StoreError extends Error {
  override readonly name = 'StoreError';
}

async function store<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err: unknown) {
    throw new StoreError(`firestore: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

/**
 * The error as recorded and logged. An error message may quote what was sent, so the request's
 * env values are cut out of it: they are never stored or logged.
 */
function errorInfo(err: unknown, secrets: readonly string[] = []): ErrorInfo {
  const code = grpcCode(err);
  const name = code !== undefined ? (grpcStatus[code] ?? String(code)) : 'ERROR';
  let message = err instanceof Error ? err.message : String(err);
  for (const secret of secrets) {
    if (secret.length >= 3) message = message.replaceAll(secret, '[redacted]');
  }
  return { code: name, message: message.slice(0, 1000) };
}

/**
 * The dedup-and-dispatch protocol of DESIGN.md for one valid delivery: claim the request id with
 * a lease, start at most one execution, record it while still holding the lease. Every path
 * returns an outcome; none throws.
 */
export class Dispatcher {
  private readonly deps: DispatcherDeps;
  private readonly maxRetries: MaxRetriesCache;
  private readonly now: () => Date;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.maxRetries = new MaxRetriesCache(deps.launcher);
    this.now = deps.now ?? (() => new Date());
  }

  /** Runs the protocol; `deadlineMs` (epoch ms) is when the answer is due. */
  async dispatch(delivery: ValidDelivery, ops: OpCount, deadlineMs: number): Promise<Outcome> {
    const input: ClaimInput = {
      docId: jobDocumentId(delivery.requestId),
      requestId: delivery.requestId,
      request: delivery.request,
      source: delivery.source,
      owner: randomUUID(),
      now: this.now(),
      leaseMs: this.deps.leaseMs,
      retentionMs: this.deps.retentionMs,
    };
    try {
      const claim = await store(this.deps.repository.claim(input, ops));
      if (claim.kind === 'claimed') {
        return await this.launchHolding(claim.lease, delivery, ops, deadlineMs);
      }
      return await this.onExisting(claim.job, input, delivery, ops, deadlineMs);
    } catch (err: unknown) {
      if (err instanceof StoreError)
        return outcome('store-unavailable', { error: errorInfo(err.cause) });
      const secrets = Object.values(delivery.request.env ?? {});
      return outcome('internal', { error: errorInfo(err, secrets) });
    }
  }

  private async onExisting(
    existing: ExistingJob,
    input: ClaimInput,
    delivery: ValidDelivery,
    ops: OpCount,
    deadlineMs: number,
  ): Promise<Outcome> {
    if (existing.state !== 'dispatching') return outcome('duplicate', { state: existing.state });
    const live =
      existing.leaseOwner !== null &&
      existing.leaseExpiresAt !== null &&
      existing.leaseExpiresAt.getTime() > input.now.getTime();
    if (live) return outcome('in-progress');
    const lease = await store(this.deps.repository.takeOver(existing, input, ops));
    if (lease === undefined) return outcome('in-progress');
    // The earlier holder may have died after runJob and before recording it: adopt, never rerun.
    let found;
    try {
      const jobs = [...new Set([existing.job, delivery.request.job].filter((j) => j !== ''))];
      const lists = await Promise.all(
        jobs.map((job) =>
          this.deps.launcher.findExecutionsByEnv(
            job,
            BRIDGE_EXECUTION_ENV.requestId,
            delivery.requestId,
          ),
        ),
      );
      found = lists.flat()[0];
    } catch (err: unknown) {
      return this.onLaunchError(lease, err, delivery, ops);
    }
    if (found !== undefined) {
      const record = { operationName: null, executionName: found.name, adopted: true };
      const held = await store(
        this.deps.repository.recordDispatched(lease, record, this.now(), ops),
      );
      return held
        ? outcome('adopted', { executionName: found.name })
        : outcome('lease-lost', { executionName: found.name });
    }
    return this.launchHolding(lease, delivery, ops, deadlineMs);
  }

  private async launchHolding(
    lease: Lease,
    delivery: ValidDelivery,
    ops: OpCount,
    deadlineMs: number,
  ): Promise<Outcome> {
    this.deps.fault?.('after-claim');
    let launched;
    try {
      const maxRetries = await this.maxRetries.get(delivery.request.job);
      if (Date.now() >= deadlineMs) {
        // Starting now could outlive the answer: give the request id back instead.
        await store(this.deps.repository.release(lease, this.now(), ops));
        return outcome('budget-exceeded');
      }
      const ids = { requestId: delivery.requestId, docId: lease.docId, maxRetries };
      launched = await this.deps.launcher.launch(launchRequest(delivery.request, ids));
    } catch (err: unknown) {
      if (err instanceof StoreError) throw err;
      return this.onLaunchError(lease, err, delivery, ops);
    }
    this.deps.fault?.('after-launch');
    const record = { ...launched, adopted: false };
    // If this write fails the execution still runs: the redelivery takes over and adopts it.
    const held = await store(this.deps.repository.recordDispatched(lease, record, this.now(), ops));
    return held
      ? outcome('dispatched', { executionName: launched.executionName })
      : outcome('lease-lost', { executionName: launched.executionName });
  }

  private async onLaunchError(
    lease: Lease,
    err: unknown,
    delivery: ValidDelivery,
    ops: OpCount,
  ): Promise<Outcome> {
    const info = errorInfo(err, Object.values(delivery.request.env ?? {}));
    if (isRetryable(err)) {
      await store(this.deps.repository.release(lease, this.now(), ops));
      return outcome('launch-retryable', { error: info });
    }
    const held = await store(this.deps.repository.recordFailed(lease, info, this.now(), ops));
    return held ? outcome('launch-failed', { error: info }) : outcome('lease-lost');
  }
}
