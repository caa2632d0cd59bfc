import type { Command } from 'commander';
import { createCloudClients } from './cloud-clients.ts';
import { createLogger } from '../log.ts';
import { loadReconcilerConfig, loadRequestCheck, RECONCILER_ENV } from '../config/index.ts';
import { reconcileAll } from '../reconciler/index.ts';

/** `jobbridge reconcile`: one pass (following its cursor up to maxPages), then exits. */
export function register(program: Command): void {
  program
    .command('reconcile')
    .description('one reconcile pass: finish jobs whose state is no longer true (then exit)')
    .option('--json', 'print each action as a JSON line')
    .addHelpText(
      'after',
      `\nConfigured by GOOGLE_CLOUD_PROJECT, JOBBRIDGE_REGION, JOBBRIDGE_COLLECTION, JOBBRIDGE_JOBS (execution names read from documents must be of these jobs), CLOUD_RUN_EMULATOR_HOST and ${Object.values(RECONCILER_ENV).join(', ')}.\nExample:\n  $ JOBBRIDGE_RECONCILE_STALE_AFTER_MS=60000 jobbridge reconcile`,
    )
    .action(async (flags: { json?: boolean }) => {
      const config = loadReconcilerConfig();
      const check = loadRequestCheck();
      const log = createLogger({ name: 'reconciler', level: config.logLevel });
      const clients = createCloudClients(config);
      const { firestore, launcher } = clients;
      const counts: Record<string, number> = {};
      try {
        const done = await reconcileAll(
          {
            firestore,
            collection: config.collection,
            launcher,
            log,
            scope: {
              project: config.projectId,
              region: config.region,
              ...(check.jobs.size > 0 ? { jobs: check.jobs } : {}),
            },
          },
          {
            ...config.options,
            maxPages: config.maxPages,
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
        const d = done.drain;
        const drained = d
          ? `; drained: ${d.started} started, ${d.adopted} adopted, ${d.cancelled} cancelled, ${d.failed} failed, ${d.queueDepth} still queued`
          : '';
        process.stdout.write(
          `reconciled: ${done.examined} job(s) examined${summary ? `; ${summary}` : ''}${drained}${done.nextCursor ? '; more left for the next run' : ''}\n`,
        );
        if ((counts.error ?? 0) > 0) process.exitCode = 1;
      } finally {
        await clients.close();
      }
    });
}
