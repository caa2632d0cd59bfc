import type { DocumentReference, Firestore, Timestamp } from '@google-cloud/firestore';
import type { ErrorInfo, TaskProgress, TaskState } from '../contract/index.ts';

/**
 * Per-state 0/1 flags stored on each task document, so that one aggregation query of sums
 * gives the job's task counts (src/store/aggregate.ts). `failedFinal` is a failure with no
 * retry left.
 */
export interface TaskFlags {
  running: number;
  succeeded: number;
  failed: number;
  failedFinal: number;
}

/** The flags for a task state. */
export function taskFlags(state: TaskState, willRetry = false): TaskFlags {
  return {
    running: state === 'running' ? 1 : 0,
    succeeded: state === 'succeeded' ? 1 : 0,
    failed: state === 'failed' ? 1 : 0,
    failedFinal: state === 'failed' && !willRetry ? 1 : 0,
  };
}

/** The job document and a task document of it. */
export function jobRef(db: Firestore, collection: string, jobId: string): DocumentReference {
  return db.collection(collection).doc(jobId);
}

export function taskRef(
  db: Firestore,
  collection: string,
  jobId: string,
  taskIndex: number,
): DocumentReference {
  return jobRef(db, collection, jobId).collection('tasks').doc(String(taskIndex));
}

/** Fields of one attempt's terminal write. */
export interface TaskOutcome {
  state: 'succeeded' | 'failed';
  willRetry: boolean;
  /** `code` is a stable reason: `error`, `terminated`, `cancelled`, `permanent`, `batch-mismatch`. */
  error: ErrorInfo | null;
  progress: TaskProgress;
  result: Record<string, unknown> | null;
}

export type { Timestamp };
