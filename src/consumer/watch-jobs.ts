import type { Firestore } from '@google-cloud/firestore';
import { jobsQuery, type JobListItem, type ListJobsOptions } from './list-jobs.ts';
import { toJobDocument } from './snapshot.ts';
import type { Unsubscribe } from './watch-job.ts';

/** One delivery of a `watchJobs` listener. */
export interface JobsChange {
  /** The whole list as `listJobs` with the same options would return it now. */
  items: JobListItem[];
  /**
   * Documents Firestore sent in this snapshot (added or modified, each a billed read): the whole
   * list at first, then only what changed.
   */
  reads: number;
}

export interface WatchJobsOptions extends ListJobsOptions {
  /** Called when the listener fails (permission, a missing index); the watch has then stopped. */
  onError?: (err: Error) => void;
}

/**
 * Listens to the list `listJobs(options)` returns and calls `onChange` with the whole list each
 * time a job in it changes, one enters it or one leaves it. One listener serves any number of
 * readers: it costs a read per job at first, then a read per changed job.
 *
 * @returns a function that stops the listener
 */
export function watchJobs(
  firestore: Firestore,
  options: WatchJobsOptions,
  onChange: (change: JobsChange) => void,
): Unsubscribe {
  let stopped = false;
  let first = true;
  const stop = jobsQuery(firestore, options).onSnapshot(
    (snap) => {
      if (stopped) return;
      const changed = snap.docChanges().filter((c) => c.type !== 'removed').length;
      // A query that matches nothing is still billed one read.
      const reads = first ? Math.max(1, changed) : changed;
      first = false;
      onChange({
        items: snap.docs.map((d) => ({ documentId: d.id, job: toJobDocument(d.data(), d.id) })),
        reads,
      });
    },
    (err) => {
      if (stopped) return;
      stopped = true;
      options.onError?.(err);
    },
  );
  return () => {
    stopped = true;
    stop();
  };
}
