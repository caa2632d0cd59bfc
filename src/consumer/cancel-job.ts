import type { Firestore } from '@google-cloud/firestore';
import { requestCancel, type CancelResult } from '../store/job-cancel.ts';
import { jobRefs, type CollectionOption } from './snapshot.ts';

export type { CancelResult };

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
  return requestCancel(firestore, jobRefs(firestore, requestId, options).job);
}
