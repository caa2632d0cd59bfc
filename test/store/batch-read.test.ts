import { afterAll, describe, expect, it } from 'vitest';
import { BATCH_COLLECTION, batchDigest, parseBatchContent } from '../../src/contract/index.ts';
import { batchReader } from '../../src/store/batch-read.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';

const db = testFirestore(testProjectId('batch-read'));
afterAll(async () => {
  await db.terminate();
});

describe('batchReader', () => {
  it('reads batches/{id} as stored, every field, and undefined for a missing one', async () => {
    const content = {
      job: 'simulate',
      members: [
        {
          requestId: 'r1',
          documentId: 'r1',
          offset: 0,
          taskCount: 2,
          function: 'simulate',
          args: ['--steps', '1'],
          env: { APP_COLOR: 'red' },
        },
      ],
    };
    await db
      .collection(BATCH_COLLECTION)
      .doc('b1')
      .set({ ...content, digest: batchDigest(content), taskCount: 2, state: 'dispatched' });
    const reader = batchReader(db);
    const data = await reader.readBatch('b1');
    expect(data).toMatchObject({ digest: batchDigest(content), taskCount: 2, state: 'dispatched' });
    expect(batchDigest(parseBatchContent(data))).toBe(batchDigest(content));
    expect(await reader.readBatch('absent')).toBeUndefined();
  });
});
