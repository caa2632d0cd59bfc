import type { DocumentReference } from '@google-cloud/firestore';
import { millisOf } from './job-view.ts';

/** How many task documents the evidence reads at most. */
const EVIDENCE_LIMIT = 50;

/**
 * What the workers left behind, in words for a failed job's message: none started (no task
 * document: the command never ran jobbridge's worker), or which ones began and never recorded an
 * ending (killed from outside: out of memory, SIGKILL).
 */
export async function workerEvidence(job: DocumentReference): Promise<string> {
  const snap = await job.collection('tasks').select('state', 'attempt').limit(EVIDENCE_LIMIT).get();
  if (snap.empty) return 'no worker started (no task document was written)';
  const unfinished = snap.docs.filter((d) => d.get('state') === 'running').map((d) => d.id);
  if (unfinished.length === 0) return `${snap.size} task document(s), all with a recorded ending`;
  return `task(s) ${unfinished.join(', ')} started but never recorded an ending`;
}

export interface StaleTask {
  taskIndex: number;
  heartbeatAt: Date | null;
}

/**
 * Running tasks whose last heartbeat is before `cutoff`, oldest first (at most 100). Needs the
 * composite index on `tasks` (state ASC, heartbeatAt ASC), docs/operations.md, "Indexes it needs".
 */
export async function staleTasks(job: DocumentReference, cutoff: Date): Promise<StaleTask[]> {
  const snap = await job
    .collection('tasks')
    .where('state', '==', 'running')
    .where('heartbeatAt', '<', cutoff)
    .orderBy('heartbeatAt')
    .limit(100)
    .get();
  return snap.docs.map((d) => {
    const ms = millisOf(d.get('heartbeatAt'));
    return { taskIndex: Number(d.id), heartbeatAt: ms === undefined ? null : new Date(ms) };
  });
}
