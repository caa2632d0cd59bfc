import { FieldValue } from '@google-cloud/firestore';
import type { Command } from 'commander';
import { jobRefs } from '../consumer/snapshot.ts';
import { isTerminalJobState, type JobState } from '../contract/index.ts';
import { JobNotFoundError, out, readClientConfig, withFirestore } from './context.ts';

type CancelOutcome =
  | { kind: 'requested' | 'already-requested' | 'already-cancelled' }
  | { kind: 'finished'; state: JobState };

/** `jobbridge cancel R`: records `cancelRequested` on the job; the bridge and workers act on it. */
export function register(program: Command): void {
  program
    .command('cancel')
    .description('request cancellation of a job (sets cancelRequested on its document)')
    .argument('<requestId>', 'the request id printed by publish')
    .addHelpText('after', '\nExample:\n  $ jobbridge cancel 0190c6a1-7d3e-7b2a-9f41-2d1c0e5a8b77')
    .action(async (requestId: string) => {
      const config = readClientConfig();
      const outcome = await withFirestore(config, (db) => {
        const ref = jobRefs(db, requestId, config).job;
        // A transaction, so a job that ends meanwhile is reported as ended, not marked.
        return db.runTransaction(async (tx): Promise<CancelOutcome> => {
          const snap = await tx.get(ref);
          const data = snap.data();
          if (!data) throw new JobNotFoundError(requestId, config);
          const state = data.state as JobState;
          if (state === 'cancelled') return { kind: 'already-cancelled' };
          if (isTerminalJobState(state)) return { kind: 'finished', state };
          if (data.cancelRequested === true) return { kind: 'already-requested' };
          tx.update(ref, { cancelRequested: true, updatedAt: FieldValue.serverTimestamp() });
          return { kind: 'requested' };
        });
      });
      if (outcome.kind === 'finished') {
        throw new Error(`job "${requestId}" already ended as ${outcome.state}; nothing to cancel`);
      }
      const said = {
        requested: 'cancellation requested',
        'already-requested': 'cancellation was already requested',
        'already-cancelled': 'already cancelled',
      };
      out(`${requestId}: ${said[outcome.kind]}`);
    });
}
