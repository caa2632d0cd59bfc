import type { Command } from 'commander';
import { createCloudClients } from './cloud-clients.ts';
import { integerAtLeast } from './options.ts';
import { createLogger } from '../log.ts';
import {
  ConfigError,
  loadReconcilerConfig,
  loadRequestCheck,
  RECONCILER_ENV,
  VARIABLES,
  type ReconcilerConfig,
} from '../config/index.ts';
import type { Firestore } from '@google-cloud/firestore';
import {
  createDispatchStores,
  Drainer,
  MaxRetriesCache,
  QueueKnowledge,
  RunBudget,
  type DrainResult,
} from '../dispatch/index.ts';
import type { Launcher } from '../launcher/index.ts';
import type { Logger } from '../log.ts';
import { reconcileAll } from '../reconciler/index.ts';

/** How long `jobbridge reconcile` drains the queue when `--drain-for-ms` is not given. */
export const DEFAULT_CLI_DRAIN_MS = 45_000;

/**
 * The drainer of one `jobbridge reconcile` run: a dispatcher like a bridge instance's, with its
 * own pace (JOBBRIDGE_RUNJOB_PER_MINUTE), and the same allowlist and policies the stored
 * requests must pass again before they start.
 */
function cliDrainer(
  config: ReconcilerConfig,
  check: ReturnType<typeof loadRequestCheck>,
  firestore: Firestore,
  launcher: Launcher,
  log: Logger,
): Drainer {
  const { queue, repository, batches } = createDispatchStores(firestore, config.collection);
  return new Drainer({
    queue,
    repository,
    batches,
    batchMaxRequests: config.batchMaxRequests,
    retentionMs: config.retentionDays * 86_400_000,
    launcher,
    budget: new RunBudget(config.pace),
    maxRetries: new MaxRetriesCache(launcher),
    jobs: check.jobs,
    policies: check.policies,
    leaseMs: config.leaseMs,
    keyConcurrency: config.keyConcurrency,
    knowledge: new QueueKnowledge(),
    log,
  });
}

function drainLine(d: DrainResult): string {
  return `; drained: ${d.started} started, ${d.adopted} adopted, ${d.cancelled} cancelled, ${d.failed} failed, ${d.requeued} requeued, ${d.queueDepth} still queued (stopped by ${d.stoppedBy})`;
}

/**
 * `jobbridge reconcile`: one pass (following its cursor up to maxPages), then a drain of the
 * queue for `--drain-for-ms` (as the bridge's `POST /reconcile` does), then exits.
 */
export function register(program: Command): void {
  program
    .command('reconcile')
    .description(
      'one reconcile pass: finish jobs whose state is no longer true, then drain the queue (then exit)',
    )
    .option('--json', 'print each action as a JSON line')
    .option(
      '--drain-for-ms <ms>',
      `how long to start queued requests after the pass (0: no drain; needs ${VARIABLES.jobs.name} otherwise)`,
      integerAtLeast(0),
      DEFAULT_CLI_DRAIN_MS,
    )
    .addHelpText(
      'after',
      `\nConfigured by GOOGLE_CLOUD_PROJECT, JOBBRIDGE_REGION, JOBBRIDGE_COLLECTION, ${VARIABLES.jobs.name} and ${VARIABLES.jobPolicy.name} (as the bridge's: queued requests pass them again before they start, and execution names read from documents must be of these jobs), CLOUD_RUN_EMULATOR_HOST and ${Object.values(RECONCILER_ENV).join(', ')}.\nExample:\n  $ JOBBRIDGE_JOBS=fan-out,simulate JOBBRIDGE_RECONCILE_STALE_AFTER_MS=60000 jobbridge reconcile --drain-for-ms 50000`,
    )
    .action(async (flags: { json?: boolean; drainForMs: number }) => {
      const config = loadReconcilerConfig();
      const check = loadRequestCheck();
      const drains = flags.drainForMs > 0;
      if (drains && check.jobs.size === 0) {
        // With no allowlist every stored request would fail its check: refuse rather than fail them.
        throw new ConfigError(
          VARIABLES.jobs.name,
          'is required to drain the queue (queued requests are checked against it, as the bridge does); set it as on the bridge, or pass --drain-for-ms 0',
        );
      }
      const log = createLogger({ name: 'reconciler', level: config.logLevel });
      const clients = createCloudClients(config);
      const { firestore, launcher } = clients;
      const counts: Record<string, number> = {};
      try {
        const drainer = drains ? cliDrainer(config, check, firestore, launcher, log) : undefined;
        const done = await reconcileAll(
          {
            firestore,
            collection: config.collection,
            launcher,
            log,
            ...(drainer ? { drainer } : {}),
            scope: {
              project: config.projectId,
              region: config.region,
              ...(check.jobs.size > 0 ? { jobs: check.jobs } : {}),
            },
          },
          {
            ...config.options,
            maxPages: config.maxPages,
            // Counted from the start of the run, as the bridge's route counts from the call.
            drainUntilMs: Date.now() + flags.drainForMs,
            onActions: (actions) => {
              for (const a of actions) {
                counts[a.action] = (counts[a.action] ?? 0) + 1;
                if (flags.json) process.stdout.write(`${JSON.stringify(a)}\n`);
                else if (a.action !== 'waiting')
                  process.stdout.write(
                    `${a.requestId}: ${a.from} → ${a.action}${a.reason ? ` (${a.reason})` : ''}\n`,
                  );
              }
            },
          },
        );
        if (flags.json && done.drain)
          process.stdout.write(`${JSON.stringify({ drain: done.drain })}\n`);
        const summary = Object.entries(counts)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ');
        const drained = done.drain ? drainLine(done.drain) : '; queue not drained';
        process.stdout.write(
          `reconciled: ${done.examined} job(s) examined${summary ? `; ${summary}` : ''}${drained}${done.nextCursor ? '; more left for the next run' : ''}\n`,
        );
        if ((counts.error ?? 0) > 0) process.exitCode = 1;
      } finally {
        await clients.close();
      }
    });
}
