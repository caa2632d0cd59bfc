import type { Firestore } from '@google-cloud/firestore';
import { BATCH_COLLECTION } from '../contract/index.ts';
import type { BatchReadStore } from './port.ts';

/** The worker's reads of `batches/{batchId}` (the `BatchReadStore` port), on `db`. */
export function batchReader(db: Firestore): BatchReadStore {
  return {
    async readBatch(batchId) {
      const snap = await db.collection(BATCH_COLLECTION).doc(batchId).get();
      return snap.exists ? snap.data() : undefined;
    },
  };
}
