import type { Command } from 'commander';
import { getJob, queuePosition, type JobSnapshot } from '../consumer/index.ts';
import type { JobDocument } from '../contract/index.ts';
import { JobNotFoundError, out, readClientConfig, withFirestore } from './context.ts';
import { jobRatio, percent, stateLine, table, taskSummary, time } from './job-format.ts';

function jobRows(job: JobDocument, snapshot: JobSnapshot, position?: number): string[][] {
  const labels = Object.entries(job.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const rows = [
    ['request id', job.requestId],
    ['job', job.function ? `${job.job} (function ${job.function})` : job.job],
    ['state', stateLine(job)],
    ...(position !== undefined ? [['position', `${position} queued ahead of it`]] : []),
    ['tasks', taskSummary(job, snapshot.tasks)],
    ['progress', percent(jobRatio(job, snapshot.tasks)).trim()],
    ['created', time(job.createdAt)],
    ['started', time(job.startedAt)],
    ['finished', time(job.finishedAt)],
  ];
  if (labels.length > 0) rows.push(['labels', labels.join(' ')]);
  if (job.dispatch?.executionName) rows.push(['execution', job.dispatch.executionName]);
  if (job.dispatch?.batchId !== undefined) {
    const from = job.dispatch.taskOffset ?? 0;
    const slice = job.taskCount ? `, its tasks ${from}…${from + job.taskCount - 1}` : '';
    rows.push(['batch', `${job.dispatch.batchId} (shared execution${slice})`]);
  }
  if (job.error) rows.push(['error', `${job.error.code}: ${job.error.message}`]);
  for (const issue of job.issues ?? []) rows.push(['issue', `${issue.path}: ${issue.reason}`]);
  return rows;
}

/** The human form of `jobbridge status`: the job's fields, then a row per task. */
export function renderStatus(job: JobDocument, snapshot: JobSnapshot, position?: number): string[] {
  const lines = table(jobRows(job, snapshot, position));
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
      '\nExample:\n  $ jobbridge status "$(jobbridge publish --job simulate --function simulate)" --json | jq .job.state',
    )
    .action(async (requestId: string, flags: { json?: boolean }) => {
      const config = readClientConfig();
      const { snapshot, position } = await withFirestore(config, async (db) => {
        const got = await getJob(db, requestId, config);
        const queuedAt = got.job?.state === 'queued' ? got.job.queue?.queuedAt : undefined;
        return {
          snapshot: got,
          position: queuedAt ? await queuePosition(db, queuedAt, config) : undefined,
        };
      });
      if (!snapshot.job) throw new JobNotFoundError(requestId, config);
      if (flags.json) {
        out(
          JSON.stringify(
            {
              documentId: snapshot.documentId,
              job: snapshot.job,
              tasks: snapshot.tasks,
              ...(position !== undefined ? { queuePosition: position } : {}),
            },
            null,
            2,
          ),
        );
      } else {
        for (const line of renderStatus(snapshot.job, snapshot, position)) out(line);
      }
    });
}
