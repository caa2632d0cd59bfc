import type { DocumentSnapshot, Timestamp } from '@google-cloud/firestore';
import type { JobState } from '../contract/index.ts';

/** What the reconciler reads from a job document. Times in epoch ms. */
export interface JobView {
  docId: string;
  requestId: string;
  state: JobState;
  job: string;
  cancelRequested: boolean;
  leaseOwner: string | null;
  leaseExpiresAtMs: number | undefined;
  executionName: string | undefined;
  /** The batch whose execution runs the job (`dispatch.batchId`), when batched. */
  batchId: string | undefined;
  updatedAtMs: number;
  /** The stored `updatedAt` as Firestore returned it: the pagination cursor's value. */
  updatedAt: Timestamp | undefined;
}

/** A stored time (Firestore Timestamp, or a Date) in epoch ms. */
export function millisOf(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'object' && value !== null && 'toMillis' in value) {
    const toMillis = value.toMillis;
    if (typeof toMillis === 'function') return (toMillis as () => number).call(value);
  }
  return undefined;
}

/** Reads a job document defensively: the reconciler must cope with half-written documents. */
export function jobView(snap: DocumentSnapshot): JobView | undefined {
  const data = snap.data();
  if (!data) return undefined;
  const dispatch = (data.dispatch ?? {}) as Record<string, unknown>;
  const updatedAt = data.updatedAt as Timestamp | undefined;
  return {
    docId: snap.id,
    requestId: typeof data.requestId === 'string' ? data.requestId : snap.id,
    state: data.state as JobState,
    job: typeof data.job === 'string' ? data.job : '',
    cancelRequested: data.cancelRequested === true,
    leaseOwner: typeof dispatch.leaseOwner === 'string' ? dispatch.leaseOwner : null,
    leaseExpiresAtMs: millisOf(dispatch.leaseExpiresAt),
    executionName:
      typeof dispatch.executionName === 'string' && dispatch.executionName !== ''
        ? dispatch.executionName
        : undefined,
    batchId:
      typeof dispatch.batchId === 'string' && dispatch.batchId !== ''
        ? dispatch.batchId
        : undefined,
    updatedAtMs: millisOf(updatedAt) ?? 0,
    updatedAt,
  };
}
