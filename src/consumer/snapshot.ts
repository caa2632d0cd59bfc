import { Timestamp, type DocumentData, type Firestore } from '@google-cloud/firestore';
import {
  DEFAULT_COLLECTION,
  jobDocumentId,
  type JobDocument,
  type TaskDocument,
} from '../contract/index.ts';

/** Where job documents live; every consumer function takes it. */
export interface CollectionOption {
  /** Firestore collection of job documents, default `jobs` (JOBBRIDGE_COLLECTION). */
  collection?: string;
}

/** A job and its tasks at one moment, with Firestore timestamps turned into Dates. */
export interface JobSnapshot {
  /** The request id asked about. */
  requestId: string;
  /** Its Firestore document id (`jobDocumentId(requestId)`). */
  documentId: string;
  /** The job document, or null while it does not exist (not yet published, or unknown id). */
  job: JobDocument | null;
  /** Task documents, ordered by task index. */
  tasks: TaskDocument[];
}

/** Turns every Firestore Timestamp inside a value into a Date, leaving the rest alone. */
export function withDates(value: unknown): unknown {
  if (value instanceof Timestamp) return value.toDate();
  if (Array.isArray(value)) return value.map(withDates);
  if (
    value !== null &&
    typeof value === 'object' &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withDates(v)]));
  }
  return value;
}

/** A job document as read from Firestore, typed. */
export function toJobDocument(data: DocumentData, documentId: string): JobDocument {
  const job = withDates(data) as JobDocument;
  // Documents written before the request id was recorded still get one.
  return { ...job, requestId: job.requestId ?? documentId };
}

/** A task document as read from Firestore, typed; the index falls back to the document id. */
export function toTaskDocument(data: DocumentData, documentId: string): TaskDocument {
  const task = withDates(data) as TaskDocument;
  return {
    ...task,
    taskIndex: typeof task.taskIndex === 'number' ? task.taskIndex : Number(documentId),
  };
}

/** References to a request's job document and its tasks collection. */
export function jobRefs(firestore: Firestore, requestId: string, options: CollectionOption = {}) {
  const documentId = jobDocumentId(requestId);
  const job = firestore.collection(options.collection ?? DEFAULT_COLLECTION).doc(documentId);
  return { documentId, job, tasks: job.collection('tasks') };
}

/** Reads a job and its tasks once. `job` is null when there is no such document. */
export async function getJob(
  firestore: Firestore,
  requestId: string,
  options: CollectionOption = {},
): Promise<JobSnapshot> {
  const refs = jobRefs(firestore, requestId, options);
  const [jobSnap, taskSnap] = await Promise.all([refs.job.get(), refs.tasks.get()]);
  const data = jobSnap.data();
  return {
    requestId,
    documentId: refs.documentId,
    job: data ? toJobDocument(data, refs.documentId) : null,
    tasks: sortTasks(taskSnap.docs.map((d) => toTaskDocument(d.data(), d.id))),
  };
}

export function sortTasks(tasks: TaskDocument[]): TaskDocument[] {
  return tasks.sort((a, b) => a.taskIndex - b.taskIndex);
}
