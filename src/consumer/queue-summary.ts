import type { Firestore } from '@google-cloud/firestore';
import { DEFAULT_COLLECTION } from '../contract/index.ts';
import type { CollectionOption } from './snapshot.ts';
import { withDates } from './snapshot.ts';

/** The admission queue at one moment. */
export interface QueueSummary {
  /** Jobs in state `queued`. */
  depth: number;
  /** When the oldest of them was queued (its `queue.queuedAt`, else its `createdAt`); null when none. */
  oldestQueuedAt: Date | null;
  /** Request id of that oldest queued job. */
  oldestRequestId: string | null;
  /** Firestore reads this summary cost (a count aggregation and one document at most). */
  reads: number;
}

/**
 * How many jobs wait in the admission queue and since when. A `count()` aggregation (one read per
 * 1,000 queued jobs) and a one-document query; on Google the second needs an index on
 * (state, createdAt).
 */
export async function queueSummary(
  firestore: Firestore,
  options: CollectionOption = {},
): Promise<QueueSummary> {
  const queued = firestore
    .collection(options.collection ?? DEFAULT_COLLECTION)
    .where('state', '==', 'queued');
  const [count, oldest] = await Promise.all([
    queued.count().get(),
    queued.orderBy('createdAt', 'asc').limit(1).get(),
  ]);
  const depth = count.data().count;
  const first = oldest.docs[0];
  const data = first ? (withDates(first.data()) as Record<string, unknown>) : undefined;
  const queue = data?.queue as { queuedAt?: unknown } | undefined;
  const at = queue?.queuedAt instanceof Date ? queue.queuedAt : data?.createdAt;
  return {
    depth,
    oldestQueuedAt: at instanceof Date ? at : null,
    oldestRequestId: typeof data?.requestId === 'string' ? data.requestId : (first?.id ?? null),
    reads: Math.max(1, Math.ceil(depth / 1000)) + Math.max(1, oldest.size),
  };
}
