import { FieldPath, type Firestore, type Query } from '@google-cloud/firestore';
import { DEFAULT_COLLECTION, type JobDocument, type JobState } from '../contract/index.ts';
import { toJobDocument, type CollectionOption } from './snapshot.ts';

/** Where a page of jobs starts: after the last row of the page before it. */
export interface JobCursor {
  /** That row's time field value. */
  time: Date;
  /** That row's document id (the tie-break among equal times). */
  documentId: string;
}

export interface ListJobsOptions extends CollectionOption {
  /** Only jobs in one of these states (at most 30, Firestore's `in` limit). */
  states?: readonly JobState[];
  /** Only jobs of this Cloud Run job. */
  job?: string;
  /** Only jobs carrying every one of these labels with exactly these values. */
  labels?: Readonly<Record<string, string>>;
  /** Which time the `since`/`until` window applies to; default `createdAt`. */
  timeField?: 'createdAt' | 'startedAt' | 'finishedAt';
  /** Inclusive lower bound of the time field. */
  since?: Date;
  /** Exclusive upper bound of the time field. */
  until?: Date;
  /** The next page: the jobs listed after this one, in the same order. */
  after?: JobCursor;
  /** At most this many jobs, newest first; default 100. */
  limit?: number;
}

/** One listed job: its document id and the document. */
export interface JobListItem {
  documentId: string;
  job: JobDocument;
}

/**
 * The Firestore query behind `listJobs` and `watchJobs`: filters, then newest first by the time
 * field with the document id breaking ties (the order a cursor continues).
 */
export function jobsQuery(firestore: Firestore, options: ListJobsOptions = {}): Query {
  const timeField = options.timeField ?? 'createdAt';
  let query: Query = firestore.collection(options.collection ?? DEFAULT_COLLECTION);
  if (options.states && options.states.length > 0) {
    query =
      options.states.length === 1
        ? query.where('state', '==', options.states[0])
        : query.where('state', 'in', [...options.states]);
  }
  if (options.job !== undefined) query = query.where('job', '==', options.job);
  for (const [key, value] of Object.entries(options.labels ?? {})) {
    query = query.where(new FieldPath('labels', key), '==', value);
  }
  if (options.since) query = query.where(timeField, '>=', options.since);
  if (options.until) query = query.where(timeField, '<', options.until);
  query = query.orderBy(timeField, 'desc').orderBy(FieldPath.documentId(), 'desc');
  if (options.after) query = query.startAfter(options.after.time, options.after.documentId);
  return query.limit(options.limit ?? 100);
}

/**
 * Lists jobs, newest first by the chosen time field, filtered by state, job, labels and a time
 * window. On Google (not the emulator), combining state, job or label filters with the time order
 * needs a composite index on (state, job, labels.KEY…, TIME_FIELD desc); Firestore's error names
 * the index. Costs one document read per job returned (one when none is).
 */
export async function listJobs(
  firestore: Firestore,
  options: ListJobsOptions = {},
): Promise<JobListItem[]> {
  const snap = await jobsQuery(firestore, options).get();
  return snap.docs.map((d) => ({ documentId: d.id, job: toJobDocument(d.data(), d.id) }));
}
