import type { Firestore } from '@google-cloud/firestore';
import { JobQueue } from '../store/job-queue.ts';
import { JobRepository } from '../store/job-repository.ts';

/** The store's ports the dispatch protocol works on: claims and leases, and the queue. */
export interface DispatchStores {
  repository: JobRepository;
  queue: JobQueue;
}

/** The dispatch stores over the job documents of `collection`. */
export function createDispatchStores(firestore: Firestore, collection: string): DispatchStores {
  return {
    repository: new JobRepository(firestore, collection),
    queue: new JobQueue(firestore, collection),
  };
}
