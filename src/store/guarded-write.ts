import type {
  DocumentData,
  DocumentReference,
  Firestore,
  UpdateData,
} from '@google-cloud/firestore';
import { canTransitionJob, isTerminalJobState, type JobState } from '../contract/index.ts';

/** What the document must still look like for the write to go ahead. */
export interface Guard {
  /** The state the reconciler based its decision on. */
  state: JobState;
  /** The state it writes, checked against the contract's state machine; omit for no change. */
  to?: JobState;
  /** Further conditions on the current data (the lease owner and expiry a decision read). */
  holds?: (data: DocumentData) => boolean;
}

/**
 * Applies `patch` in a transaction that re-reads the job first, and writes only if it is still in
 * `guard.state` (never terminal), the transition is allowed, and `guard.holds` agrees. A worker
 * or a bridge that wrote in between wins: its write is newer than what the reconciler decided on,
 * so the reconciler's pass gives up on that job ("raced") and a later pass looks again.
 */
export async function guardedUpdate(
  db: Firestore,
  ref: DocumentReference,
  guard: Guard,
  patch: UpdateData<DocumentData>,
): Promise<boolean> {
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const data = snap.data();
    if (!data) return false;
    const state = data.state as JobState;
    if (state !== guard.state || isTerminalJobState(state)) return false;
    if (guard.to !== undefined && guard.to !== state && !canTransitionJob(state, guard.to))
      return false;
    if (guard.holds && !guard.holds(data)) return false;
    tx.update(ref, patch);
    return true;
  });
}
