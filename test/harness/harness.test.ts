import { describe, expect, it } from 'vitest';
import { testFirestore, testProjectId } from './google.ts';

describe('test harness', () => {
  it('runs the official Firestore emulator: create() on an existing document fails with ALREADY_EXISTS', async () => {
    const db = testFirestore(testProjectId('harness'));
    const ref = db.collection('jobs').doc('once');
    await ref.create({ n: 1 });
    await expect(ref.create({ n: 2 })).rejects.toMatchObject({ code: 6 });
    await db.terminate();
  });
});
