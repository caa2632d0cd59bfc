import type { Command } from 'commander';
import { createCloudClients } from './cloud-clients.ts';
import { createLogger } from '../log.ts';
import { loadReconcilerConfig, reconcile, RECONCILER_ENV } from '../reconciler/index.ts';

/** `jobbridge reconcile`: one pass (following its cursor up to maxPages), then exits. */
export function register(program: Command): void {
  program
    .command('reconcile')
    .description('one reconcile pass: finish jobs whose state is no longer true (then exit)')
    .option('--json', 'print each action as a JSON line')
    .addHelpText(
      'after',
      `\nConfigured by GOOGLE_CLOUD_PROJECT, JOBBRIDGE_REGION, JOBBRIDGE_COLLECTION, CLOUD_RUN_EMULATOR_HOST and ${Object.values(RECONCILER_ENV).join(', ')}.\nExample:\n  $ JOBBRIDGE_RECONCILE_STALE_AFTER_MS=60000 jobbridge reconcile`,
    )
    .action(async (flags: { json?: boolean }) => {
      const config = loadReconcilerConfig(process.env);
      const log = createLogger({ name: 'reconciler', level: process.env.LOG_LEVEL ?? 'warn' });
      const clients = createCloudClients(config);
      const { firestore, launcher } = clients;
      const counts: Record<string, number> = {};
      let examined = 0;
      try {
        let cursor: string | undefined;
        for (let page = 0; page < config.maxPages; page++) {
          const deps = { firestore, collection: config.collection, launcher, log };
          const result = await reconcile(deps, {
            ...config.options,
            ...(cursor ? { cursor } : {}),
          });
          examined += result.examined;
          for (const a of result.actions) {
            counts[a.action] = (counts[a.action] ?? 0) + 1;
            if (flags.json) process.stdout.write(`${JSON.stringify(a)}\n`);
            else if (a.action !== 'waiting')
              process.stdout.write(
                `${a.requestId}: ${a.from} → ${a.action}${a.reason ? ` (${a.reason})` : ''}\n`,
              );
          }
          cursor = result.nextCursor;
          if (cursor === undefined) break;
        }
        const summary = Object.entries(counts)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ');
        process.stdout.write(
          `reconciled: ${examined} job(s) examined${summary ? `; ${summary}` : ''}${cursor ? '; more left for the next run' : ''}\n`,
        );
        if ((counts.error ?? 0) > 0) process.exitCode = 1;
      } finally {
        await clients.close();
      }
    });
}
