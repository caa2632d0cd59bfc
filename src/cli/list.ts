import { InvalidArgumentError, type Command } from 'commander';
import { listJobs, type JobListItem } from '../consumer/index.ts';
import { JOB_STATES, type JobState } from '../contract/index.ts';
import { out, readClientConfig, withFirestore } from './context.ts';
import { formatDuration } from './duration.ts';
import { fit, percent, stateLine, table } from './job-format.ts';
import { integerAtLeast, keyValue, parseDurationMs } from './options.ts';

interface ListFlags {
  state?: JobState[];
  job?: string;
  label?: Record<string, string>;
  since?: number;
  limit: number;
  json?: boolean;
}

/** Commander collector for `--state`, repeatable and comma-separated, checked against the states. */
function states(value: string, previous: JobState[] = []): JobState[] {
  const out = [...previous];
  for (const name of value.split(',').map((s) => s.trim())) {
    if (!(JOB_STATES as readonly string[]).includes(name))
      throw new InvalidArgumentError(`"${name}" is not a job state (${JOB_STATES.join(', ')})`);
    if (!out.includes(name as JobState)) out.push(name as JobState);
  }
  return out;
}

/** `5 min ago`, `3 h ago`, from a time and now: whole minutes past the first one. */
function ago(time: Date | null | undefined, now: number): string {
  if (!(time instanceof Date)) return '-';
  const ms = Math.max(0, now - time.getTime());
  return `${formatDuration(ms < 60_000 ? ms : Math.round(ms / 60_000) * 60_000)} ago`;
}

/** The human form of `jobbridge list`: one row per job, newest first. */
export function renderList(items: readonly JobListItem[], now = Date.now()): string[] {
  if (items.length === 0) return ['no jobs'];
  const rows = [
    ['REQUEST ID', 'JOB', 'FUNCTION', 'STATE', 'TASKS', 'PROGRESS', 'CREATED', 'LABELS'],
  ];
  for (const { job } of items) {
    const tasks = job.tasks;
    const done = tasks ? `${tasks.succeeded}/${job.taskCount ?? '?'}` : `-/${job.taskCount ?? '?'}`;
    rows.push([
      fit(job.requestId, 40),
      job.job,
      job.function ?? '-',
      // A queued job says why it waits; CREATED already says since when.
      stateLine(job, { since: false }),
      done,
      percent(job.state === 'succeeded' ? 1 : job.progress?.ratio).trim(),
      ago(job.createdAt, now),
      Object.entries(job.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    ]);
  }
  return table(rows);
}

/** `jobbridge list`: the recent jobs, newest first, filtered. */
export function register(program: Command): void {
  program
    .command('list')
    .description('list recent jobs, newest first')
    .option('--state <state>', `only jobs in this state (repeatable or comma-separated)`, states)
    .option('--job <name>', 'only jobs of this Cloud Run job')
    .option('--label <K=V>', 'only jobs with this label (repeatable)', keyValue)
    .option(
      '--since <duration>',
      'only jobs created within this, e.g. 90m, 2h, 7d',
      parseDurationMs,
    )
    .option('--limit <n>', 'at most this many jobs', integerAtLeast(1), 20)
    .option('--json', 'print [{"documentId", "job"}] as JSON (times as ISO strings)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ jobbridge list --since 2h\n  $ jobbridge list --state failed,cancelled --job simulate --json',
    )
    .action(async (flags: ListFlags) => {
      const config = readClientConfig();
      const items = await withFirestore(config, (db) =>
        listJobs(db, {
          collection: config.collection,
          ...(flags.state && { states: flags.state }),
          ...(flags.job !== undefined && { job: flags.job }),
          ...(flags.label && { labels: flags.label }),
          ...(flags.since !== undefined && { since: new Date(Date.now() - flags.since) }),
          limit: flags.limit,
        }),
      );
      if (flags.json) out(JSON.stringify(items, null, 2));
      else for (const line of renderList(items)) out(line);
    });
}
