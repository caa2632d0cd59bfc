import type { Firestore } from '@google-cloud/firestore';
import { isTerminalJobState } from '../contract/index.ts';
import type { CollectionOption, JobSnapshot } from './snapshot.ts';
import { watchJob } from './watch-job.ts';

export interface WaitForJobOptions extends CollectionOption {
  /** Give up after this long (a WaitTimeoutError); default: wait as long as it takes. */
  timeoutMs?: number;
  /** Aborting rejects with the signal's reason and stops listening. */
  signal?: AbortSignal;
}

/** The job did not reach a terminal state in time; `last` is what was seen last. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  readonly last: JobSnapshot | undefined;
  constructor(requestId: string, timeoutMs: number, last: JobSnapshot | undefined) {
    const state = last?.job ? `state ${last.job.state}` : 'no job document';
    super(`job ${requestId} did not finish within ${timeoutMs} ms (last seen: ${state})`);
    this.last = last;
  }
}

/**
 * Resolves with the job's snapshot once it reaches a terminal state (`succeeded`, `failed`,
 * `cancelled` or `rejected`): check `snapshot.job.state`, a failed job resolves too. A job
 * that does not exist yet is waited for, since the bridge creates it after Pub/Sub's push.
 * Rejects on timeout, on abort, or when the listener fails.
 */
export function waitForJob(
  firestore: Firestore,
  requestId: string,
  options: WaitForJobOptions = {},
): Promise<JobSnapshot> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<JobSnapshot>((resolve, reject) => {
    let last: JobSnapshot | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (settle: () => void): void => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = (): void => finish(() => reject(signal?.reason as Error));
    const unsubscribe = watchJob(
      firestore,
      requestId,
      (snapshot) => {
        last = snapshot;
        if (snapshot.job && isTerminalJobState(snapshot.job.state)) finish(() => resolve(snapshot));
      },
      { collection: options.collection, onError: (err) => finish(() => reject(err)) },
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(
        () => finish(() => reject(new WaitTimeoutError(requestId, timeoutMs, last))),
        timeoutMs,
      );
    }
  });
}
