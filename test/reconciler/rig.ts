import type { Firestore } from '@google-cloud/firestore';
import type { JobDocument, JobState } from '../../src/contract/index.ts';

export const COLLECTION = 'jobs';
const MINUTE = 60_000;

/**
 * Writes `jobs/{id}` as the bridge would have left it (shape: src/store/job-claim-document.ts),
 * with `updatedAt` in the past so the stale query sees it.
 */
export async function writeJob(
  db: Firestore,
  id: string,
  state: JobState,
  extra: Partial<Omit<JobDocument, 'dispatch'>> & {
    dispatch?: Partial<JobDocument['dispatch']>;
  } = {},
  ageMs = 30 * MINUTE,
): Promise<void> {
  const at = new Date(Date.now() - ageMs);
  const { dispatch, ...rest } = extra;
  const doc: JobDocument = {
    requestId: id,
    state,
    job: 'ok',
    function: null,
    args: [],
    envNames: [],
    taskCount: 1,
    timeoutSeconds: null,
    labels: {},
    concurrencyKey: null,
    source: { messageId: `m-${id}` },
    dispatch: { leaseOwner: null, leaseExpiresAt: null, attempts: 1, ...dispatch },
    error: null,
    createdAt: at,
    updatedAt: at,
    ...(state === 'dispatched' || state === 'running' ? { dispatchedAt: at } : {}),
    expireAt: new Date(Date.now() + 24 * 60 * MINUTE),
    ...rest,
  };
  await db.collection(COLLECTION).doc(id).set(doc);
}

export async function readJob(db: Firestore, id: string): Promise<Record<string, unknown>> {
  const data = (await db.collection(COLLECTION).doc(id).get()).data();
  if (!data) throw new Error(`no job document ${id}`);
  return data;
}

/** Polls `check` until it returns a value other than undefined, or fails at the deadline. */
export { waitFor } from '../../bench/lib/poll.ts';

export { MINUTE };
