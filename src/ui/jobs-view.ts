import type { JobListItem, QueueSummary } from '../consumer/index.ts';
import { JOB_STATES, type JobDocument } from '../contract/index.ts';
import { filterQuery, inputTime, PAGE_SIZE, type FilterIssue, type JobsFilter } from './filters.ts';
import { formatDuration, jobDurationMs, jobRatio } from './format.ts';
import { html, type SafeHtml } from './html.ts';

/** What the top of the jobs page shows: the admission queue and the bridge's RunJob budget. */
export interface Overview {
  queue?: QueueSummary;
  queueError?: string;
  /** The bridge's `GET /limitz`, when the ui was told where the bridge is. */
  limitz?: Record<string, unknown>;
  limitzError?: string;
}

export function stateBadge(state: string, cancelRequested = false): SafeHtml {
  const label = cancelRequested && state !== 'cancelled' ? `${state} · cancel requested` : state;
  return html`<span class="state state-${state}">${label}</span>`;
}

export function progressBar(ratio: number, label: string): SafeHtml {
  const pct = Math.floor(ratio * 100);
  return html`<span class="progress"
    ><progress max="100" value="${pct}" aria-label="${label}">${pct}%</progress
    ><span class="pct">${pct}%</span></span
  >`;
}

/** A time shown as an age (`3 min 4 s ago`) that the page keeps current. */
export function age(date: Date | null | undefined, now: Date): SafeHtml {
  if (!(date instanceof Date)) return html`-`;
  return html`<time datetime="${date.toISOString()}" data-age title="${date.toISOString()}"
    >${formatDuration(now.getTime() - date.getTime())} ago</time
  >`;
}

/** A job's run time; while it runs, the page counts it up. */
export function duration(job: JobDocument, now: Date): SafeHtml {
  const ms = jobDurationMs(job, now);
  if (ms === undefined) return html`-`;
  const start = (job.startedAt ?? job.dispatchedAt) as Date;
  const running = !(job.finishedAt instanceof Date);
  return html`<span${running ? html` data-run-from="${start.toISOString()}"` : ''}>${formatDuration(ms)}</span>`;
}

function taskCounts(job: JobDocument): SafeHtml {
  const c = job.tasks;
  const total = job.taskCount ?? '?';
  if (!c) return html`<span class="counts">0 of ${total}</span>`;
  return html`<span class="counts" title="running, succeeded, failed of total"
    >${c.running} running · ${c.succeeded} ok · ${c.failed} failed
    <span class="of">of ${total}</span></span
  >`;
}

function labelList(labels: Record<string, string> | undefined): SafeHtml {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return html``;
  return html`${entries.map(([k, v]) => html`<span class="label">${k}=${v}</span> `)}`;
}

export function jobHref(requestId: string): string {
  return `/jobs/${encodeURIComponent(requestId)}`;
}

/** One row of the jobs table. */
export function jobRow(item: JobListItem, now: Date): SafeHtml {
  const { job } = item;
  return html`<tr data-request-id="${job.requestId}" data-state="${job.state}">
    <td>${stateBadge(job.state, job.cancelRequested === true)}</td>
    <td class="rid"><a href="${jobHref(job.requestId)}">${job.requestId}</a></td>
    <td>
      ${job.job}${job.function && job.function !== job.job ? html` <span class="fn">${job.function}</span>` : ''}
    </td>
    <td>${progressBar(jobRatio(job), `progress of ${job.requestId}`)}</td>
    <td>${taskCounts(job)}</td>
    <td>${labelList(job.labels)}</td>
    <td class="time">${age(job.createdAt, now)}</td>
    <td class="time">${duration(job, now)}</td>
  </tr>`;
}

export function jobRows(items: readonly JobListItem[], now: Date, filtered: boolean): SafeHtml {
  if (items.length === 0) {
    return html`<tr class="empty">
      <td colspan="8">
        ${filtered ? 'No job matches these filters.' : 'No jobs yet. Publish one and it appears here.'}
      </td>
    </tr>`;
  }
  return html`${items.map((item) => jobRow(item, now))}`;
}

export function pager(items: readonly JobListItem[], filter: JobsFilter): SafeHtml {
  const links: SafeHtml[] = [];
  if (filter.after) links.push(html`<a href="/?${filterQuery(filter, null)}">Newest</a>`);
  const last = items[items.length - 1];
  if (items.length === PAGE_SIZE && last) {
    const next = filterQuery(filter, { time: last.job.createdAt, documentId: last.documentId });
    links.push(html`<a href="/?${next}" rel="next">Older jobs</a>`);
  }
  return html`${links}`;
}

function budget(limitz: Record<string, unknown>): SafeHtml {
  const limits = (limitz.limits ?? {}) as Record<string, unknown>;
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const tokens = num(limitz.tokens);
  const burst = num(limits.runJobBurst);
  const perMinute = num(limits.runJobPerMinute);
  const inFlight = num(limitz.inFlight);
  const maxLaunches = num(limits.maxConcurrentLaunches);
  return html`<span data-budget
    >${tokens !== undefined ? `${Math.floor(tokens)}${burst !== undefined ? ` of ${burst}` : ''} RunJob calls free now` : 'RunJob budget unknown'}${perMinute !== undefined ? `, ${perMinute}/min` : ''}${inFlight !== undefined ? ` · ${inFlight}${maxLaunches !== undefined ? ` of ${maxLaunches}` : ''} launches in flight` : ''}</span
  >`;
}

/** The strip above the table: queue depth, oldest queued age, RunJob budget. */
export function overview(view: Overview, now: Date): SafeHtml {
  const q = view.queue;
  return html`<dl class="overview">
    <div>
      <dt>Queued</dt>
      <dd data-queue-depth>${q ? q.depth : view.queueError ? 'unavailable' : '…'}</dd>
    </div>
    <div>
      <dt>Oldest queued</dt>
      <dd>${q?.oldestQueuedAt ? age(q.oldestQueuedAt, now) : q ? 'none' : '…'}</dd>
    </div>
    <div>
      <dt>RunJob budget (bridge)</dt>
      <dd>
        ${view.limitz ? budget(view.limitz) : (view.limitzError ?? 'not shown: start the ui with --bridge-url')}
      </dd>
    </div>
  </dl>`;
}

function stateOptions(selected: string | undefined): SafeHtml {
  return html`<option value="">any</option>
    ${JOB_STATES.map(
      (s) => html`<option value="${s}" ${s === selected ? html` selected` : ''}>${s}</option>`,
    )}`;
}

/** The whole jobs page body; the live regions are replaced by the event stream. */
export function jobsBody(input: {
  items: readonly JobListItem[];
  filter: JobsFilter;
  issues: readonly FilterIssue[];
  overview: Overview;
  notice?: string;
  now: Date;
}): SafeHtml {
  const { filter, now } = input;
  const filtered = Boolean(
    filter.state || filter.job || filter.label || filter.since || filter.until,
  );
  return html`<h1>Jobs</h1>
    <section aria-label="Admission queue and budget" data-region="overview">
      ${overview(input.overview, now)}
    </section>
    <div class="tools">
      <form class="filters" method="get" action="/" aria-label="Filter jobs">
        <label
          >State
          <select name="state">
            ${stateOptions(filter.state)}
          </select></label
        >
        <label
          >Job <input name="job" value="${filter.job ?? ''}" size="12" autocomplete="off"
        /></label>
        <label
          >Label
          <input
            name="label"
            value="${filter.label ?? ''}"
            placeholder="key=value"
            size="14"
            autocomplete="off"
        /></label>
        <label
          >Since (UTC) <input type="datetime-local" name="since" value="${inputTime(filter.since)}"
        /></label>
        <label
          >Until (UTC) <input type="datetime-local" name="until" value="${inputTime(filter.until)}"
        /></label>
        <button type="submit">Apply</button>
        ${filtered ? html`<a href="/">Clear filters</a>` : ''}
      </form>
      <form
        class="search"
        method="get"
        action="/search"
        role="search"
        aria-label="Find a job by request id"
      >
        <label>Request id <input name="requestId" size="24" required autocomplete="off" /></label>
        <button type="submit">Open</button>
      </form>
    </div>
    ${input.notice ? html`<p class="notice" role="alert">${input.notice}</p>` : ''}
    ${
      input.issues.length > 0
        ? html`<ul class="issues" role="alert">
            ${input.issues.map((i) => html`<li><strong>${i.field}</strong>: ${i.reason}</li>`)}
          </ul>`
        : ''
    }
    <table class="jobs">
      <caption class="visually-hidden">
        Jobs, newest first
      </caption>
      <thead>
        <tr>
          <th scope="col">State</th>
          <th scope="col">Request id</th>
          <th scope="col">Job</th>
          <th scope="col">Progress</th>
          <th scope="col">Tasks</th>
          <th scope="col">Labels</th>
          <th scope="col">Age</th>
          <th scope="col">Duration</th>
        </tr>
      </thead>
      <tbody data-region="rows">
        ${jobRows(input.items, now, filtered)}
      </tbody>
    </table>
    <nav class="pager" aria-label="Pages" data-region="pager">${pager(input.items, filter)}</nav>`;
}
