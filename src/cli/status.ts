import type { Command } from 'commander';
import { getJob, type JobSnapshot } from '../consumer/index.ts';
import type { JobDocument } from '../contract/index.ts';
import { JobNotFoundError, out, readClientConfig, withFirestore } from './context.ts';
import { jobRatio, percent, table, taskSummary, time } from './job-format.ts';

function jobRows(job: JobDocument, snapshot: JobSnapshot): string[][] {
  const labels = Object.entries(job.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const rows = [
    ['request id', job.requestId],
    ['job', job.function ? `${job.job} (function ${job.function})` : job.job],
    [
      'state',
      job.cancelRequested && job.state !== 'cancelled'
        ? `${job.state} (cancel requested)`
        : job.state,
    ],
    ['tasks', taskSummary(job, snapshot.tasks)],
    ['progress', percent(jobRatio(job, snapshot.tasks)).trim()],
    ['created', time(job.createdAt)],
    ['started', time(job.startedAt)],
    ['finished', time(job.finishedAt)],
  ];
  if (labels.length > 0) rows.push(['labels', labels.join(' ')]);
  if (job.dispatch?.executionName) rows.push(['execution', job.dispatch.executionName]);
  if (job.error) rows.push(['error', `${job.error.code}: ${job.error.message}`]);
  for (const issue of job.issues ?? []) rows.push(['issue', `${issue.path}: ${issue.reason}`]);
  return rows;
}

/** The human form of `jobbridge status`: the job's fields, then a row per task. */
export function renderStatus(job: JobDocument, snapshot: JobSnapshot): string[] {
  const lines = table(jobRows(job, snapshot));
  if (snapshot.tasks.length > 0) {
    lines.push('');
    const rows = [['TASK', 'STATE', 'ATTEMPT', 'PROGRESS', 'MESSAGE']];
    for (const t of snapshot.tasks) {
      const state = t.state === 'failed' && t.willRetry ? 'failed (will retry)' : t.state;
      const message = t.error ? `${t.error.code}: ${t.error.message}` : (t.progress?.message ?? '');
      rows.push([
        String(t.taskIndex),
        state,
        String(t.attempt),
        percent(t.progress?.ratio).trim(),
        message,
      ]);
    }
    lines.push(...table(rows));
  }
  return lines;
}

/** `jobbridge status R`: the job and its tasks as a table, or JSON. */
export function register(program: Command): void {
  program
    .command('status')
    .description("show a job's state, progress and tasks")
    .argument('<requestId>', 'the request id printed by publish')
    .option('--json', 'print {"documentId", "job", "tasks"} as JSON (times as ISO strings)')
    .addHelpText(
      'after',
      '\nExample:\n  $ jobbridge status 0190c6a1-7d3e-7b2a-9f41-2d1c0e5a8b77 --json | jq .job.state',
    )
    .action(async (requestId: string, flags: { json?: boolean }) => {
      const config = readClientConfig();
      const snapshot = await withFirestore(config, (db) => getJob(db, requestId, config));
      if (!snapshot.job) throw new JobNotFoundError(requestId, config);
      if (flags.json) {
        out(
          JSON.stringify(
            { documentId: snapshot.documentId, job: snapshot.job, tasks: snapshot.tasks },
            null,
            2,
          ),
        );
      } else {
        for (const line of renderStatus(snapshot.job, snapshot)) out(line);
      }
    });
}
