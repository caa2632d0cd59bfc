import type { Firestore } from '@google-cloud/firestore';
import type { Command } from 'commander';
import { formatDuration } from './duration.ts';
import { listJobs } from '../consumer/index.ts';
import { getJob } from '../consumer/snapshot.ts';
import { observedUsage, type RecordedRun } from '../cost/observed.ts';
import {
  costOfTaskSeconds,
  formatDollars,
  scenarioCost,
  TIER1_PRICES,
  type CostBreakdown,
  type CostRates,
} from '../cost/pricing.ts';
import { out, readClientConfig, usageError, withFirestore, type ClientConfig } from './context.ts';
import { integerAtLeast, parseDurationMs, positiveNumber } from './options.ts';

interface CostFlags {
  vcpu: number;
  memoryGib: number;
  seconds?: number;
  runsPerDay?: number;
  days: number;
  users: number;
  vcpuSecondPrice: number;
  gibSecondPrice: number;
  json?: boolean;
  fromFirestore?: boolean;
  since: number;
}

/** At most this many finished jobs are read for `--from-firestore`. */
const MAX_RECORDED_JOBS = 5000;

async function recordedRuns(
  db: Firestore,
  config: ClientConfig,
  sinceMs: number,
): Promise<RecordedRun[]> {
  const since = new Date(Date.now() - sinceMs);
  const jobs = await listJobs(db, {
    collection: config.collection,
    states: ['succeeded', 'failed', 'cancelled'],
    timeField: 'finishedAt',
    since,
    limit: MAX_RECORDED_JOBS,
  });
  return Promise.all(
    jobs.map(async ({ job }) => {
      const { tasks } = await getJob(db, job.requestId, config);
      return { startedAt: job.startedAt, finishedAt: job.finishedAt, tasks };
    }),
  );
}

function printBreakdown(
  lines: string[],
  cost: CostBreakdown,
  rates: CostRates,
  what: string,
): void {
  lines.push(
    `vCPU:   ${formatDollars(cost.vcpuCost)}  (${cost.vcpuSeconds} vCPU-s × $${rates.vcpuSecondPrice.toFixed(8)})`,
    `memory: ${formatDollars(cost.memoryCost)}  (${cost.gibSeconds} GiB-s × $${rates.gibSecondPrice.toFixed(8)})`,
    `total:  ${formatDollars(cost.total)} ${what}`,
  );
}

/** `jobbridge cost`: the seed article's pricing arithmetic, or the same over recorded jobs. */
export function register(program: Command): void {
  program
    .command('cost')
    .description('estimate Cloud Run Jobs cost from a workload, or from finished jobs in Firestore')
    .option('--vcpu <n>', 'vCPUs per task', positiveNumber(), 1)
    .option('--memory-gib <n>', 'memory per task, GiB', positiveNumber(), 0.5)
    .option('--seconds <n>', 'seconds per run', positiveNumber(true))
    .option('--runs-per-day <n>', 'runs a day per user', positiveNumber(true))
    .option('--days <n>', 'days in the period', positiveNumber(), 30)
    .option('--users <n>', 'users (each with runs-per-day)', integerAtLeast(1), 1)
    .option(
      '--vcpu-second-price <usd>',
      'price of a vCPU-second',
      positiveNumber(true),
      TIER1_PRICES.vcpuSecondPrice,
    )
    .option(
      '--gib-second-price <usd>',
      'price of a GiB-second',
      positiveNumber(true),
      TIER1_PRICES.gibSecondPrice,
    )
    .option(
      '--from-firestore',
      'use the recorded durations of finished jobs instead of --seconds/--runs-per-day',
    )
    .option(
      '--since <duration>',
      'with --from-firestore: the window, e.g. 90m, 12h, 7d, 30d',
      parseDurationMs,
      30 * 86_400_000,
    )
    .option('--json', 'print an object with vcpuCost, memoryCost and total (USD)')
    .addHelpText(
      'after',
      '\nPrices default to Tier 1 beyond the free tier ($0.00002160/vCPU-s, $0.00000240/GiB-s).\n' +
        '\nExamples:\n  $ jobbridge cost --vcpu 2 --memory-gib 4 --seconds 60 --runs-per-day 50 --days 30\n' +
        '  $ jobbridge cost --vcpu 2 --memory-gib 4 --from-firestore --since 30d --json',
    )
    .action(async (flags: CostFlags, command: Command) => {
      const rates: CostRates = {
        vcpu: flags.vcpu,
        memoryGib: flags.memoryGib,
        vcpuSecondPrice: flags.vcpuSecondPrice,
        gibSecondPrice: flags.gibSecondPrice,
      };
      const lines: string[] = [];
      let result: Record<string, unknown>;
      if (flags.fromFirestore) {
        if (flags.seconds !== undefined || flags.runsPerDay !== undefined) {
          usageError(
            command,
            '--from-firestore measures durations and runs; drop --seconds and --runs-per-day',
          );
        }
        const config = readClientConfig();
        const runs = await withFirestore(config, (db) => recordedRuns(db, config, flags.since));
        const usage = observedUsage(runs);
        const cost = costOfTaskSeconds(usage.taskSeconds, rates);
        const window = formatDuration(flags.since);
        lines.push(
          `${usage.runs} finished jobs in the last ${window} (${usage.skipped} without times skipped)`,
        );
        printBreakdown(lines, cost, rates, `over the last ${window}`);
        result = {
          ...rates,
          windowDays: flags.since / 86_400_000,
          runs: usage.runs,
          skipped: usage.skipped,
          ...cost,
        };
      } else {
        if (flags.seconds === undefined || flags.runsPerDay === undefined) {
          usageError(command, 'give --seconds and --runs-per-day (or --from-firestore)');
        }
        const scenario = {
          ...rates,
          seconds: flags.seconds,
          runsPerDay: flags.runsPerDay,
          days: flags.days,
          users: flags.users,
        };
        const cost = scenarioCost(scenario);
        const per = flags.users === 1 ? 'per user' : `for ${flags.users} users`;
        printBreakdown(lines, cost, rates, `for ${flags.days} days ${per}`);
        result = { ...scenario, ...cost };
      }
      if (flags.json) out(JSON.stringify(result));
      else lines.forEach(out);
    });
}
