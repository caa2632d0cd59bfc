import type { Firestore } from '@google-cloud/firestore';
import { jobDocumentId, type JobDocument, type TaskDocument } from '../../src/contract/index.ts';

/**
 * Writes job and task documents as the bridge and the worker would, so consumer and CLI tests
 * can play the other side of the protocol.
 */
export function jobDocument(requestId: string, overrides: Partial<JobDocument> = {}): JobDocument {
  const now = new Date();
  return {
    requestId,
    state: 'dispatched',
    job: 'fanout',
    function: 'fanout',
    args: [],
    envNames: [],
    taskCount: 1,
    timeoutSeconds: null,
    labels: {},
    source: { messageId: '1' },
    dispatch: { leaseOwner: null, leaseExpiresAt: null, attempts: 1 },
    createdAt: now,
    updatedAt: now,
    expireAt: new Date(now.getTime() + 7 * 86_400_000),
    ...overrides,
  };
}

export function taskDocument(
  taskIndex: number,
  overrides: Partial<TaskDocument> = {},
): TaskDocument {
  const now = new Date();
  return {
    taskIndex,
    state: 'running',
    attempt: 0,
    progress: { done: 0, total: 10, ratio: 0 },
    heartbeatAt: now,
    startedAt: now,
    ...overrides,
  };
}

export function jobRef(db: Firestore, requestId: string, collection = 'jobs') {
  return db.collection(collection).doc(jobDocumentId(requestId));
}

export async function writeJob(
  db: Firestore,
  requestId: string,
  overrides: Partial<JobDocument> = {},
  collection = 'jobs',
): Promise<void> {
  await jobRef(db, requestId, collection).set(jobDocument(requestId, overrides));
}

export async function writeTask(
  db: Firestore,
  requestId: string,
  taskIndex: number,
  overrides: Partial<TaskDocument> = {},
  collection = 'jobs',
): Promise<void> {
  await jobRef(db, requestId, collection)
    .collection('tasks')
    .doc(String(taskIndex))
    .set(taskDocument(taskIndex, overrides));
}
