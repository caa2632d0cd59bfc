import type { Firestore } from '@google-cloud/firestore';
import type { TaskDocument } from '../contract/index.ts';
import {
  jobRefs,
  sortTasks,
  toJobDocument,
  toTaskDocument,
  type CollectionOption,
  type JobSnapshot,
} from './snapshot.ts';

export interface WatchJobOptions extends CollectionOption {
  /** Called when a listener fails (permission, network); the watch has then stopped. */
  onError?: (err: Error) => void;
}

/** Stops a watch; calling it more than once is harmless. */
export type Unsubscribe = () => void;

/**
 * Listens to a job and its tasks and calls `onChange` with the whole picture each time either
 * changes. The first call comes once both the job and its tasks have been read, so it never
 * shows a job without the tasks it already has. A job that does not exist yet is reported with
 * `job: null` and watched until it appears (the bridge creates it after the push).
 *
 * @returns a function that stops both listeners
 */
export function watchJob(
  firestore: Firestore,
  requestId: string,
  onChange: (snapshot: JobSnapshot) => void,
  options: WatchJobOptions = {},
): Unsubscribe {
  const refs = jobRefs(firestore, requestId, options);
  let job: JobSnapshot['job'] | undefined;
  let tasks: TaskDocument[] | undefined;
  let stopped = false;
  const emit = (): void => {
    if (stopped || job === undefined || tasks === undefined) return;
    onChange({ requestId, documentId: refs.documentId, job, tasks });
  };
  const fail = (err: Error): void => {
    if (stopped) return;
    unsubscribe();
    options.onError?.(err);
  };
  const stopJob = refs.job.onSnapshot((snap) => {
    const data = snap.data();
    job = data ? toJobDocument(data, refs.documentId) : null;
    emit();
  }, fail);
  const stopTasks = refs.tasks.onSnapshot((snap) => {
    tasks = sortTasks(snap.docs.map((d) => toTaskDocument(d.data(), d.id)));
    emit();
  }, fail);
  const unsubscribe = (): void => {
    stopped = true;
    stopJob();
    stopTasks();
  };
  return unsubscribe;
}
