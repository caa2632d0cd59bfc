import { JOB_STATES, type JobState } from '../contract/index.ts';
import type { JobCursor, ListJobsOptions } from '../consumer/index.ts';

/** What the jobs page is asked to show, from its query string. */
export interface JobsFilter {
  state?: JobState;
  job?: string;
  /** `key=value` as typed. */
  label?: string;
  /** Inclusive lower bound of `createdAt`. */
  since?: Date;
  /** Exclusive upper bound of `createdAt`. */
  until?: Date;
  /** The page after this row. */
  after?: JobCursor;
}

/** A query-string field the page could not use, and why. */
export interface FilterIssue {
  field: string;
  reason: string;
}

export const PAGE_SIZE = 50;

const first = (value: unknown): string | undefined => {
  const v = Array.isArray(value) ? (value[0] as unknown) : value;
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
};

/** `2026-12-01T10:00` (a datetime-local field, read as UTC) or a full ISO time. */
function parseTime(text: string): Date | undefined {
  const withZone = /[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`;
  const date = new Date(withZone);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Reads the jobs page's filters; each unusable field is reported (and ignored), never guessed. */
export function parseJobsFilter(query: Record<string, unknown>): {
  filter: JobsFilter;
  issues: FilterIssue[];
} {
  const filter: JobsFilter = {};
  const issues: FilterIssue[] = [];
  const state = first(query.state);
  if (state !== undefined) {
    if ((JOB_STATES as readonly string[]).includes(state)) filter.state = state as JobState;
    else issues.push({ field: 'state', reason: `must be one of ${JOB_STATES.join(', ')}` });
  }
  const job = first(query.job);
  if (job !== undefined) filter.job = job;
  const label = first(query.label);
  if (label !== undefined) {
    const eq = label.indexOf('=');
    if (eq > 0) filter.label = label;
    else issues.push({ field: 'label', reason: 'must be key=value, e.g. tenant=acme' });
  }
  for (const field of ['since', 'until'] as const) {
    const text = first(query[field]);
    if (text === undefined) continue;
    const date = parseTime(text);
    if (date) filter[field] = date;
    else issues.push({ field, reason: 'must be a time such as 2026-12-01T10:00 (UTC)' });
  }
  const before = first(query.before);
  const beforeId = first(query.beforeId);
  if (before !== undefined || beforeId !== undefined) {
    const time = before === undefined ? undefined : parseTime(before);
    if (time && beforeId !== undefined) filter.after = { time, documentId: beforeId };
    else
      issues.push({ field: 'before', reason: 'a page cursor needs before (a time) and beforeId' });
  }
  return { filter, issues };
}

/** The consumer SDK's options for a filter (one page, newest first by `createdAt`). */
export function listOptions(filter: JobsFilter, collection: string): ListJobsOptions {
  const options: ListJobsOptions = { collection, limit: PAGE_SIZE };
  if (filter.state) options.states = [filter.state];
  if (filter.job !== undefined) options.job = filter.job;
  if (filter.label !== undefined) {
    const eq = filter.label.indexOf('=');
    options.labels = { [filter.label.slice(0, eq)]: filter.label.slice(eq + 1) };
  }
  if (filter.since) options.since = filter.since;
  if (filter.until) options.until = filter.until;
  if (filter.after) options.after = filter.after;
  return options;
}

/** The query string of a filter (stable field order: it also keys the shared live feeds). */
export function filterQuery(filter: JobsFilter, page?: JobCursor | null): string {
  const params = new URLSearchParams();
  if (filter.state) params.set('state', filter.state);
  if (filter.job !== undefined) params.set('job', filter.job);
  if (filter.label !== undefined) params.set('label', filter.label);
  if (filter.since) params.set('since', filter.since.toISOString());
  if (filter.until) params.set('until', filter.until.toISOString());
  const cursor = page === undefined ? filter.after : page;
  if (cursor) {
    params.set('before', cursor.time.toISOString());
    params.set('beforeId', cursor.documentId);
  }
  return params.toString();
}

/** The value a datetime-local input shows for a time (UTC, to the minute). */
export function inputTime(date: Date | undefined): string {
  return date ? date.toISOString().slice(0, 16) : '';
}
