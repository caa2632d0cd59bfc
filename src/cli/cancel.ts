import type { Command } from 'commander';
import { cancelJob } from '../consumer/cancel-job.ts';
import { JobNotFoundError, out, readClientConfig, withFirestore } from './context.ts';

const SAID = {
  requested: 'cancellation requested',
  'already-requested': 'cancellation was already requested',
  'already-cancelled': 'already cancelled',
} as const;

/** `jobbridge cancel R`: records `cancelRequested` on the job; the bridge and workers act on it. */
export function register(program: Command): void {
  program
    .command('cancel')
    .description('request cancellation of a job (sets cancelRequested on its document)')
    .argument('<requestId>', 'the request id printed by publish')
    .addHelpText(
      'after',
      '\nExample:\n  $ jobbridge cancel "$(jobbridge publish --job simulate --function simulate -- --steps 600)"',
    )
    .action(async (requestId: string) => {
      const config = readClientConfig();
      const result = await withFirestore(config, (db) => cancelJob(db, requestId, config));
      if (result.outcome === 'not-found') throw new JobNotFoundError(requestId, config);
      if (result.outcome === 'finished') {
        throw new Error(`job "${requestId}" already ended as ${result.state}; nothing to cancel`);
      }
      out(`${requestId}: ${SAID[result.outcome]}`);
    });
}
