import type { JobSnapshot } from '../consumer/index.ts';
import type { JobDocument, TaskDocument } from '../contract/index.ts';
import {
  bar,
  fit,
  jobRatio,
  percent,
  stateLine,
  taskLine,
  taskRatio,
  taskSummary,
} from './job-format.ts';

/** Shows a watched job as it changes; `finish` draws the final state and releases timers. */
export interface WatchRenderer {
  update(snapshot: JobSnapshot & { job: JobDocument }): void;
  finish(snapshot: JobSnapshot & { job: JobDocument }): void;
}

/** The state shown for a job, with a pending cancellation. */
function stateOf(job: JobDocument): string {
  return stateLine(job);
}

/**
 * Plain lines for pipes and logs: one when the job's state or task counts change, one when a
 * task's state, attempt, progress or message changes. No escape codes.
 */
export function lineRenderer(write: (text: string) => void): WatchRenderer {
  let lastJob = '';
  const lastTask = new Map<number, string>();
  const update = (snapshot: JobSnapshot & { job: JobDocument }): void => {
    const { job, tasks } = snapshot;
    const jobLine = `job ${job.requestId} ${stateOf(job)}, tasks: ${taskSummary(job, tasks)}`;
    for (const task of tasks) {
      const line = taskLine(task);
      if (lastTask.get(task.taskIndex) !== line) write(`${line}\n`);
      lastTask.set(task.taskIndex, line);
    }
    if (jobLine !== lastJob) {
      write(`${jobLine}\n`);
      if (job.error) write(`job ${job.requestId} error ${job.error.code}: ${job.error.message}\n`);
    }
    lastJob = jobLine;
  };
  return { update, finish: update };
}

export interface TerminalSize {
  columns: number;
  rows: number;
}

/** Which tasks get a bar when there is no room for all: unfinished ones first, then by index. */
function visibleTasks(tasks: readonly TaskDocument[], room: number): TaskDocument[] {
  if (tasks.length <= room) return [...tasks];
  const rank = (t: TaskDocument): number => (t.state === 'succeeded' ? 1 : 0);
  return [...tasks]
    .sort((a, b) => rank(a) - rank(b) || a.taskIndex - b.taskIndex)
    .slice(0, room)
    .sort((a, b) => a.taskIndex - b.taskIndex);
}

function indexWidthOf(tasks: readonly TaskDocument[]): number {
  return String(Math.max(0, ...tasks.map((t) => t.taskIndex))).length;
}

/** The block a terminal shows: the job's line, then a bar per task that fits on screen. */
export function frame(snapshot: JobSnapshot & { job: JobDocument }, size: TerminalSize): string[] {
  const { job, tasks } = snapshot;
  const width = Math.max(20, size.columns - 1);
  const barWidth = Math.max(10, Math.min(30, width - 40));
  const ratio = jobRatio(job, tasks);
  const lines = [
    `${job.requestId}  ${job.job}  ${stateOf(job)}  tasks: ${taskSummary(job, tasks)}`,
    `  all    ${' '.repeat(Math.max(0, indexWidthOf(tasks) - 1))}${bar(ratio, barWidth)} ${percent(ratio)}`,
  ];
  const room = Math.max(3, size.rows - 3);
  const shown = visibleTasks(tasks, room);
  const indexWidth = indexWidthOf(tasks);
  for (const t of shown) {
    const retry = t.state === 'failed' && t.willRetry ? ' (will retry)' : '';
    const detail = t.error ? `${t.error.code}: ${t.error.message}` : (t.progress?.message ?? '');
    lines.push(
      `  task ${String(t.taskIndex).padStart(indexWidth)} ${bar(taskRatio(t), barWidth)} ${percent(taskRatio(t))}  ${t.state}${retry}  attempt ${t.attempt}  ${detail}`.trimEnd(),
    );
  }
  if (shown.length < tasks.length) lines.push(`  … and ${tasks.length - shown.length} more tasks`);
  if (job.error) lines.push(`  error ${job.error.code}: ${job.error.message}`);
  return lines.map((line) => fit(line, width));
}

/** How often a terminal is redrawn at most: Firestore may deliver many task updates a second. */
const REDRAW_MS = 100;

/**
 * Live bars for a terminal: redraws its block in place (cursor up, clear below), at most every
 * 100 ms, and always draws the final state.
 */
export function terminalRenderer(
  write: (text: string) => void,
  size: () => TerminalSize,
): WatchRenderer {
  let drawn = 0;
  let lastDraw = 0;
  let pending: (JobSnapshot & { job: JobDocument }) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const draw = (snapshot: JobSnapshot & { job: JobDocument }): void => {
    const lines = frame(snapshot, size());
    // ESC[nF: to the start of the line n lines up; ESC[J: clear from there to the end of screen.
    write(`${drawn > 0 ? `\x1b[${drawn}F` : ''}\x1b[J${lines.join('\n')}\n`);
    drawn = lines.length;
    lastDraw = Date.now();
  };
  return {
    update(snapshot) {
      pending = snapshot;
      if (timer) return;
      const wait = lastDraw + REDRAW_MS - Date.now();
      if (wait <= 0) {
        draw(snapshot);
        pending = undefined;
        return;
      }
      timer = setTimeout(() => {
        timer = undefined;
        if (pending) draw(pending);
        pending = undefined;
      }, wait);
    },
    finish(snapshot) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      draw(snapshot);
    },
  };
}
