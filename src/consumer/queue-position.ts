import type { Firestore } from '@google-cloud/firestore';
import { DEFAULT_COLLECTION } from '../contract/index.ts';
import type { CollectionOption } from './snapshot.ts';

/**
 * How many requests wait in the queue ahead of one queued at `queuedAt` (its `queue.queuedAt`):
 * 0 means it is next, give or take the fairness across jobs. One `count()` aggregation.
 */
export async function queuePosition(
  firestore: Firestore,
  queuedAt: Date,
  options: CollectionOption = {},
): Promise<number> {
  const ahead = firestore
    .collection(options.collection ?? DEFAULT_COLLECTION)
    .where('state', '==', 'queued')
    .where('queue.queuedAt', '<', queuedAt);
  return (await ahead.count().get()).data().count;
}
