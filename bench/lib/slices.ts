import type { Firestore } from '@google-cloud/firestore';
import type { protos } from '@google-cloud/run';
import { BATCH_COLLECTION, BRIDGE_EXECUTION_ENV } from '../../src/contract/index.ts';
import { executionEnv } from '../../src/launcher/index.ts';

type IExecution = protos.google.cloud.run.v2.IExecution;

/** How many slices each request got, and how many executions were batches. */
export interface Slices {
  perRequest: Map<string, number>;
  batchExecutions: number;
}

/**
 * Slices per request id over `executions`: a request's own execution (JOBBRIDGE_REQUEST_ID), or
 * its member slice of a batch's execution (JOBBRIDGE_BATCH_ID, members as `batches/{id}` lists
 * them; a batch without a document runs nothing). "Exactly once" means exactly one slice.
 */
export async function slicesPerRequest(
  firestore: Firestore,
  executions: readonly IExecution[],
): Promise<Slices> {
  const perRequest = new Map<string, number>();
  const count = (id: string) => perRequest.set(id, (perRequest.get(id) ?? 0) + 1);
  let batchExecutions = 0;
  for (const e of executions) {
    const env = executionEnv(e);
    const batchId = env[BRIDGE_EXECUTION_ENV.batchId];
    if (typeof batchId === 'string') {
      batchExecutions++;
      const batch = await firestore.collection(BATCH_COLLECTION).doc(batchId).get();
      for (const m of (batch.get('members') ?? []) as { requestId: string }[]) count(m.requestId);
      continue;
    }
    const id = env[BRIDGE_EXECUTION_ENV.requestId];
    if (typeof id === 'string') count(id);
  }
  return { perRequest, batchExecutions };
}
