import type { JobDocument, TaskDocument } from '../contract/index.ts';

/** A ratio in [0, 1] (anything else: 0). */
export function clampRatio(ratio: number | undefined): number {
  return typeof ratio === 'number' && Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 0;
}

/** The ratio of a task: its recorded ratio, or 1 once it succeeded without reporting progress. */
export function taskRatio(task: TaskDocument): number {
  return task.state === 'succeeded' ? 1 : clampRatio(task.progress?.ratio);
}

/** A job's ratio: the recorded aggregate (1 once succeeded). */
export function jobRatio(job: JobDocument): number {
  return job.state === 'succeeded' ? 1 : clampRatio(job.progress?.ratio);
}

/** `1.2 s`, `3 min 4 s`, `2 h 5 min`, `3 d 4 h`: the two largest units. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** A job's run time: start to finish, or start to now while it runs; undefined before it starts. */
export function jobDurationMs(job: JobDocument, now: Date): number | undefined {
  const start = job.startedAt ?? job.dispatchedAt;
  if (!(start instanceof Date)) return undefined;
  const end = job.finishedAt instanceof Date ? job.finishedAt : now;
  return end.getTime() - start.getTime();
}

/** ISO 8601 without milliseconds, in UTC: what the page shows for a time. */
export function formatTime(value: Date | null | undefined): string {
  return value instanceof Date ? `${value.toISOString().slice(0, 19).replace('T', ' ')}Z` : '-';
}

/** The admission queue fields the bridge records on a queued job (absent on other jobs). */
export interface QueueInfo {
  reason?: string;
  queuedAt?: Date;
}

export function queueOf(job: JobDocument): QueueInfo | undefined {
  const queue = (job as { queue?: unknown }).queue;
  return queue !== null && typeof queue === 'object' ? queue : undefined;
}

/** Where a job was coalesced into a batch, when it was. */
export function batchOf(job: JobDocument): { batchId?: string; taskOffset?: number } | undefined {
  const dispatch = job.dispatch as { batchId?: unknown; taskOffset?: unknown } | undefined;
  if (typeof dispatch?.batchId !== 'string') return undefined;
  return {
    batchId: dispatch.batchId,
    ...(typeof dispatch.taskOffset === 'number' ? { taskOffset: dispatch.taskOffset } : {}),
  };
}
