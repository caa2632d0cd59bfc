import { FieldValue, type Firestore } from '@google-cloud/firestore';
import { isTerminalJobState, type JobState } from '../contract/index.ts';
import { jobRefs, type CollectionOption } from './snapshot.ts';

/** What `cancelJob` found and did. */
export type CancelResult =
  | { outcome: 'requested' | 'already-requested' | 'already-cancelled' }
  | { outcome: 'finished'; state: JobState }
  | { outcome: 'not-found' };

/**
 * Asks for a job's cancellation: sets `cancelRequested` on its document, in a transaction so that
 * a job that ends meanwhile is reported as ended rather than marked. The bridge never launches a
 * job whose cancel came first, the reconciler cancels a running execution, and workers abort
 * their function's signal; the job then ends `cancelled`.
 */
export async function cancelJob(
  firestore: Firestore,
  requestId: string,
  options: CollectionOption = {},
): Promise<CancelResult> {
  const ref = jobRefs(firestore, requestId, options).job;
  return firestore.runTransaction(async (tx): Promise<CancelResult> => {
    const data = (await tx.get(ref)).data();
    if (!data) return { outcome: 'not-found' };
    const state = data.state as JobState;
    if (state === 'cancelled') return { outcome: 'already-cancelled' };
    if (isTerminalJobState(state)) return { outcome: 'finished', state };
    if (data.cancelRequested === true) return { outcome: 'already-requested' };
    tx.update(ref, { cancelRequested: true, updatedAt: FieldValue.serverTimestamp() });
    return { outcome: 'requested' };
  });
}
