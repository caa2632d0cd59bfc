import { FieldPath, type Firestore, type Query } from '@google-cloud/firestore';
import { DEFAULT_COLLECTION, type JobDocument, type JobState } from '../contract/index.ts';
import { toJobDocument, type CollectionOption } from './snapshot.ts';

export interface ListJobsOptions extends CollectionOption {
  /** Only jobs in one of these states (at most 30, Firestore's `in` limit). */
  states?: readonly JobState[];
  /** Only jobs carrying every one of these labels with exactly these values. */
  labels?: Readonly<Record<string, string>>;
  /** Which time the `since`/`until` window applies to; default `createdAt`. */
  timeField?: 'createdAt' | 'startedAt' | 'finishedAt';
  /** Inclusive lower bound of the time field. */
  since?: Date;
  /** Exclusive upper bound of the time field. */
  until?: Date;
  /** At most this many jobs, newest first; default 100. */
  limit?: number;
}

/** One listed job: its document id and the document. */
export interface JobListItem {
  documentId: string;
  job: JobDocument;
}

/**
 * Lists jobs, newest first by the chosen time field, filtered by state, labels and a time window.
 * On Google (not the emulator), combining state or label filters with the time order needs a
 * composite index on (state, labels.KEY…, TIME_FIELD desc); Firestore's error names the index.
 */
export async function listJobs(
  firestore: Firestore,
  options: ListJobsOptions = {},
): Promise<JobListItem[]> {
  const timeField = options.timeField ?? 'createdAt';
  let query: Query = firestore.collection(options.collection ?? DEFAULT_COLLECTION);
  if (options.states && options.states.length > 0) {
    query =
      options.states.length === 1
        ? query.where('state', '==', options.states[0])
        : query.where('state', 'in', [...options.states]);
  }
  for (const [key, value] of Object.entries(options.labels ?? {})) {
    query = query.where(new FieldPath('labels', key), '==', value);
  }
  if (options.since) query = query.where(timeField, '>=', options.since);
  if (options.until) query = query.where(timeField, '<', options.until);
  const snap = await query
    .orderBy(timeField, 'desc')
    .limit(options.limit ?? 100)
    .get();
  return snap.docs.map((d) => ({ documentId: d.id, job: toJobDocument(d.data(), d.id) }));
}
