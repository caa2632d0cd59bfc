import { once } from 'node:events';
import type { Command } from 'commander';
import type { JobSnapshot } from '../consumer/index.ts';
import { observedUsage } from '../cost/observed.ts';
import { costOfTaskSeconds, formatDollars, TIER1_PRICES } from '../cost/pricing.ts';
import { readUiEnv } from '../config/index.ts';
import { createFirestore } from '../google-clients.ts';
import { createLogger } from '../log.ts';
import { startUi, type JobCost } from '../ui/index.ts';
import { readClientConfig } from './context.ts';
import { integerAtLeast, positiveNumber } from './options.ts';

interface UiFlags {
  port: number;
  host: string;
  allowCancel?: boolean;
  bridgeUrl?: string;
  vcpu: number;
  memoryGib: number;
}

/** Env var naming the bridge whose `GET /limitz` the jobs page shows (`--bridge-url`). */
export const BRIDGE_URL_ENV = 'JOBBRIDGE_BRIDGE_URL';

const uiEnv = (): ReturnType<typeof readUiEnv> => readUiEnv();

/** A job's cost from its recorded task times, at one task size and the Tier-1 prices. */
export function recordedCost(size: {
  vcpu: number;
  memoryGib: number;
}): (snapshot: JobSnapshot) => JobCost | undefined {
  return ({ job, tasks }) => {
    if (!job) return undefined;
    const usage = observedUsage([{ startedAt: job.startedAt, finishedAt: job.finishedAt, tasks }]);
    if (usage.runs === 0) return undefined;
    const cost = costOfTaskSeconds(usage.taskSeconds, { ...size, ...TIER1_PRICES });
    return {
      taskSeconds: usage.taskSeconds,
      total: formatDollars(cost.total),
      basis: `${size.vcpu} vCPU, ${size.memoryGib} GiB a task at Tier-1 prices; finished attempts only`,
    };
  };
}

const port = (value: string): number => {
  const n = integerAtLeast(0)(value);
  if (n > 65_535) throw new Error('must be at most 65535');
  return n;
};

/** `jobbridge ui`: the dashboard over the job documents, until SIGTERM or SIGINT. */
export function register(program: Command): void {
  const { port: envPort } = uiEnv();
  program
    .command('ui')
    .description('serve the dashboard: jobs and job pages, live from Firestore')
    .option('--port <port>', 'port to listen on (env PORT, as on Cloud Run)', port, envPort ?? 8090)
    .option(
      '--host <address>',
      'address to listen on (0.0.0.0 when PORT is set, as on Cloud Run)',
      envPort !== undefined ? '0.0.0.0' : '127.0.0.1',
    )
    .option('--allow-cancel', 'show the cancel button and accept cancels (read-only otherwise)')
    .option(
      '--bridge-url <url>',
      `the bridge whose RunJob budget (GET /limitz) the jobs page shows (env ${BRIDGE_URL_ENV})`,
    )
    .option('--vcpu <n>', 'vCPUs per task, for the cost of a job', positiveNumber(), 1)
    .option(
      '--memory-gib <n>',
      'memory per task in GiB, for the cost of a job',
      positiveNumber(),
      0.5,
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ jobbridge ui --port 8090\n  $ PORT=8080 jobbridge ui --allow-cancel --bridge-url http://127.0.0.1:8080',
    )
    .action(async (flags: UiFlags) => {
      const config = readClientConfig();
      const logger = createLogger();
      const firestore = createFirestore({
        projectId: config.projectId,
        emulatorHost: config.firestoreEmulatorHost,
      });
      const bridgeUrl = flags.bridgeUrl ?? uiEnv().bridgeUrl;
      try {
        const ui = await startUi({
          firestore,
          collection: config.collection,
          allowCancel: flags.allowCancel === true,
          logger,
          ...(bridgeUrl ? { bridgeUrl } : {}),
          costOf: recordedCost(flags),
          port: flags.port,
          host: flags.host,
        });
        process.stdout.write(
          `jobbridge ui on ${ui.url} (collection ${config.collection}, ${flags.allowCancel ? 'cancel allowed' : 'read-only'})\n`,
        );
        await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
        await ui.close();
      } finally {
        await firestore.terminate();
      }
    });
}
