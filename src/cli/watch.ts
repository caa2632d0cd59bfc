import type { Firestore } from '@google-cloud/firestore';
import type { Command } from 'commander';
import { watchJob, type JobSnapshot } from '../consumer/index.ts';
import { isTerminalJobState, type JobDocument, type JobState } from '../contract/index.ts';
import { JobNotFoundError, readClientConfig, withFirestore, type ClientConfig } from './context.ts';
import { positiveNumber } from './options.ts';
import { lineRenderer, terminalRenderer, type WatchRenderer } from './watch-render.ts';

/** Exit codes of `watch`, documented in its help: scripts branch on them. */
export const WATCH_EXIT = { succeeded: 0, error: 1, usage: 2, failed: 3, cancelled: 4 } as const;

export function exitCodeFor(state: JobState): number {
  if (state === 'succeeded') return WATCH_EXIT.succeeded;
  if (state === 'cancelled') return WATCH_EXIT.cancelled;
  return WATCH_EXIT.failed;
}

interface WatchFlags {
  appearTimeout: number;
  timeout?: number;
}

type Seen = JobSnapshot & { job: JobDocument };

/**
 * Follows a job until it ends. The job may not exist yet (publish returns before the bridge
 * creates it), so a missing document is waited for `appearTimeout` seconds before it counts as
 * an unknown request id.
 */
function follow(
  db: Firestore,
  requestId: string,
  config: ClientConfig,
  flags: WatchFlags,
  renderer: WatchRenderer,
): Promise<Seen> {
  return new Promise<Seen>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    const settle = (done: () => void): void => {
      unsubscribe();
      timers.forEach(clearTimeout);
      done();
    };
    let appeared = false;
    const unsubscribe = watchJob(
      db,
      requestId,
      (snapshot) => {
        if (!snapshot.job) return;
        appeared = true;
        const seen = snapshot as Seen;
        if (isTerminalJobState(seen.job.state)) {
          settle(() => resolve(seen));
          renderer.finish(seen);
        } else renderer.update(seen);
      },
      { collection: config.collection, onError: (err) => settle(() => reject(err)) },
    );
    timers.push(
      setTimeout(() => {
        if (!appeared) settle(() => reject(new JobNotFoundError(requestId, config)));
      }, flags.appearTimeout * 1000),
    );
    if (flags.timeout !== undefined) {
      const seconds = flags.timeout;
      timers.push(
        setTimeout(
          () =>
            settle(() => reject(new Error(`job ${requestId} did not finish within ${seconds} s`))),
          seconds * 1000,
        ),
      );
    }
  });
}

/** `jobbridge watch R`: live progress until the job ends; the exit code says how it ended. */
export function register(program: Command): void {
  program
    .command('watch')
    .description('follow a job until it ends: progress bars in a terminal, plain lines in a pipe')
    .argument('<requestId>', 'the request id printed by publish')
    .option(
      '--appear-timeout <seconds>',
      'how long to wait for the job document to appear',
      positiveNumber(),
      10,
    )
    .option(
      '--timeout <seconds>',
      'give up (exit 1) if the job has not ended by then',
      positiveNumber(),
    )
    .addHelpText(
      'after',
      '\nExit codes: 0 succeeded, 1 error (unknown request id, timeout), 2 usage, 3 failed or rejected, 4 cancelled.\n' +
        '\nExample:\n  $ jobbridge watch "$(jobbridge publish --job simulate --function simulate --tasks 4)"',
    )
    .action(async (requestId: string, flags: WatchFlags) => {
      const config = readClientConfig();
      const stdout = process.stdout;
      const write = (text: string): void => void stdout.write(text);
      const renderer = stdout.isTTY
        ? terminalRenderer(write, () => ({
            columns: stdout.columns || 80,
            rows: stdout.rows || 24,
          }))
        : lineRenderer(write);
      const seen = await withFirestore(config, (db) =>
        follow(db, requestId, config, flags, renderer),
      );
      process.exitCode = exitCodeFor(seen.job.state);
    });
}
