import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { jobDocumentId, type JobRequest, type QueueReason } from '../../src/contract/index.ts';
import type { ClaimInput } from '../../src/store/job-claim-document.ts';
import { newOpCount } from '../../src/store/job-ops.ts';
import type { JobQueueStore } from '../../src/store/port.ts';

/** The collection the store tests write to (each test file has its own project). */
export const COLLECTION = 'jobs';

/** A valid request with a fresh request id, `extra` over it. */
export function request(extra: Partial<JobRequest> = {}): JobRequest {
  return {
    schemaVersion: 1,
    requestId: `store-${randomUUID()}`,
    job: 'report',
    function: 'report',
    ...extra,
  };
}

/** What a delivery of `r` hands the store: a fresh owner, its own lease. */
export function claimInput(r: JobRequest, extra: Partial<ClaimInput> = {}): ClaimInput {
  const requestId = r.requestId ?? '';
  return {
    docId: jobDocumentId(requestId),
    requestId,
    request: r,
    source: { messageId: randomUUID() },
    owner: randomUUID(),
    now: new Date(),
    leaseMs: 60_000,
    retentionMs: 86_400_000,
    ...extra,
  };
}

/**
 * Queues `r` as the bridge admits a request that may not start now (admitQueued, `runjob-rate`
 * unless `reason` says), queued at `now`; throws unless it was queued.
 */
export async function queueRequest(
  queue: Pick<JobQueueStore, 'admitQueued'>,
  r: JobRequest,
  { now = new Date(), reason = 'runjob-rate' }: { now?: Date; reason?: QueueReason } = {},
): Promise<void> {
  const admitted = await queue.admitQueued(claimInput(r, { now }), reason, newOpCount());
  if (admitted.kind !== 'queued')
    throw new Error(`${r.requestId} was not queued: ${admitted.kind}`);
}

/** The document as stored, or undefined. */
export async function readDoc(
  db: Firestore,
  docId: string,
): Promise<Record<string, unknown> | undefined> {
  return (await db.collection(COLLECTION).doc(docId).get()).data();
}

/** A write by someone else (a worker's progress, a cancel): moves the document's update time. */
export async function touch(
  db: Firestore,
  docId: string,
  fields: Record<string, unknown> = { updatedAt: new Date() },
): Promise<void> {
  await db.collection(COLLECTION).doc(docId).update(fields);
}
