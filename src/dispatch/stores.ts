import type { Firestore } from '@google-cloud/firestore';
import { BatchStore } from '../store/batch-store.ts';
import { JobQueue } from '../store/job-queue.ts';
import { JobRepository } from '../store/job-repository.ts';

/** The store's ports the dispatch protocol works on: claims and leases, the queue, batches. */
export interface DispatchStores {
  repository: JobRepository;
  queue: JobQueue;
  batches: BatchStore;
}

/** The dispatch stores over the job documents of `collection`. */
export function createDispatchStores(firestore: Firestore, collection: string): DispatchStores {
  return {
    repository: new JobRepository(firestore, collection),
    queue: new JobQueue(firestore, collection),
    batches: new BatchStore(firestore, collection),
  };
}
