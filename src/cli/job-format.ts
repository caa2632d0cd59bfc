import type { JobDocument, TaskDocument } from '../contract/index.ts';

/** A progress bar of `width` cells for a ratio in [0, 1]: `██████░░░░`. */
export function bar(ratio: number, width: number): string {
  const clamped = Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 0;
  const full = Math.round(clamped * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

/** `62%`, right-aligned to four characters. */
export function percent(ratio: number | undefined): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return '  -';
  return `${Math.floor(Math.min(1, Math.max(0, ratio)) * 100)}%`.padStart(4);
}

/** The ratio of a task: its recorded ratio, or 1 once it succeeded without reporting progress. */
export function taskRatio(task: TaskDocument): number {
  if (task.state === 'succeeded') return 1;
  const ratio = task.progress?.ratio;
  return typeof ratio === 'number' ? ratio : 0;
}

/**
 * The job's ratio, from the same task documents that are shown beside it: the mean of their
 * ratios over taskCount (a task not started yet counts 0). The recorded aggregate is written
 * coalesced, so it lags the tasks; it is used only when no task document is at hand.
 */
export function jobRatio(job: JobDocument, tasks: readonly TaskDocument[]): number {
  if (job.state === 'succeeded') return 1;
  if (tasks.length === 0) return typeof job.progress?.ratio === 'number' ? job.progress.ratio : 0;
  const count = Math.max(job.taskCount ?? 1, tasks.length, 1);
  return tasks.reduce((sum, t) => sum + taskRatio(t), 0) / count;
}

/** `2 running, 1 succeeded, 0 failed of 4`, counted from the task documents. */
export function taskSummary(job: JobDocument, tasks: readonly TaskDocument[]): string {
  const count = (state: TaskDocument['state']): number =>
    tasks.filter((t) => t.state === state).length;
  const total = job.taskCount ?? tasks.length;
  return `${count('running')} running, ${count('succeeded')} succeeded, ${count('failed')} failed of ${total}`;
}

/**
 * `queued (runjob-rate since 2026-12-01T20:00:00.000Z)` while queued (`queued (runjob-rate)`
 * with `since: false`); the state otherwise. Either way `(cancel requested)` while one is pending.
 */
export function stateLine(job: JobDocument, { since = true }: { since?: boolean } = {}): string {
  const state =
    job.state === 'queued' && job.queue
      ? `queued (${job.queue.reason}${since ? ` since ${time(job.queue.queuedAt)}` : ''})`
      : job.state;
  return job.cancelRequested && job.state !== 'cancelled' ? `${state} (cancel requested)` : state;
}

/** ISO time or `-`. */
export function time(value: Date | null | undefined): string {
  return value instanceof Date ? value.toISOString() : '-';
}

/** Fits text to `width` characters, ending with `…` when cut. */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** Renders rows as left-aligned columns separated by two spaces. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** The one-line description of a task used by `watch` in a pipe and by `status`. */
export function taskLine(task: TaskDocument): string {
  const p = task.progress;
  const counts = p && typeof p.total === 'number' && p.total > 0 ? ` (${p.done}/${p.total})` : '';
  const retry = task.state === 'failed' && task.willRetry ? ' (will retry)' : '';
  const error = task.error ? ` ${task.error.code}: ${task.error.message}` : '';
  const message = p?.message ? ` ${p.message}` : '';
  return `task ${task.taskIndex} ${task.state}${retry} attempt ${task.attempt} ${percent(taskRatio(task)).trim()}${counts}${message}${error}`;
}
