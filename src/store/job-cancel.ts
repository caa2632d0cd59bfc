import { FieldValue, type DocumentReference, type Firestore } from '@google-cloud/firestore';
import { isTerminalJobState, type JobState } from '../contract/index.ts';

/** What `requestCancel` found and did. */
export type CancelResult =
  | { outcome: 'requested' | 'already-requested' | 'already-cancelled' }
  | { outcome: 'finished'; state: JobState }
  | { outcome: 'not-found' };

/**
 * Sets `cancelRequested` on a job document, in a transaction so that a job that ends meanwhile
 * is reported as ended rather than marked. Cost: 1 read, +1 write when requested. Throws the
 * Firestore client's errors.
 */
export function requestCancel(firestore: Firestore, ref: DocumentReference): Promise<CancelResult> {
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

/**
 * Whether a job's cancel was asked for (or it already ended `cancelled`): what a worker reads
 * to stop its function. False for a missing document. Cost: 1 read.
 */
export async function jobCancelRequested(
  firestore: Firestore,
  collection: string,
  jobId: string,
): Promise<boolean> {
  const data = (await firestore.collection(collection).doc(jobId).get()).data();
  return data?.cancelRequested === true || data?.state === 'cancelled';
}
