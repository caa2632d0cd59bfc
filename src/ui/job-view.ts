import type { JobSnapshot } from '../consumer/index.ts';
import { isTerminalJobState, type JobDocument, type TaskDocument } from '../contract/index.ts';
import { batchOf, formatDuration, formatTime, jobRatio, queueOf, taskRatio } from './format.ts';
import { html, type SafeHtml } from './html.ts';
import { age, duration, progressBar, stateBadge } from './jobs-view.ts';

/** A job's cost from its recorded durations, as the ui's host computes it. */
export interface JobCost {
  taskSeconds: number;
  /** Formatted total, e.g. `$0.000216`. */
  total: string;
  /** What it assumes (task size, prices). */
  basis: string;
}

function row(term: string, value: SafeHtml | string | number | null | undefined): SafeHtml {
  if (value === undefined || value === null || value === '') return html``;
  return html`<div>
    <dt>${term}</dt>
    <dd>${value}</dd>
  </div>`;
}

function code(values: readonly string[]): SafeHtml {
  if (values.length === 0) return html`<span class="none">none</span>`;
  return html`${values.map((v) => html`<code>${v}</code> `)}`;
}

function requestSection(job: JobDocument): SafeHtml {
  const labels = Object.entries(job.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const s = job.source;
  return html`<section aria-labelledby="h-request">
    <h2 id="h-request">Request</h2>
    <dl class="fields">
      ${row('Job', job.job)}
      ${row('Function', job.function ?? html`<span class="none">none (raw args)</span>`)}
      ${row('Args', code(job.args ?? []))} ${row('Env names', code(job.envNames ?? []))}
      ${row('Labels', code(labels))} ${row('Tasks', job.taskCount ?? 'the job’s default')}
      ${row('Timeout', job.timeoutSeconds ? `${job.timeoutSeconds} s` : 'the job’s default')}
      ${row('Concurrency key', job.concurrencyKey ?? undefined)} ${row('Message id', s?.messageId)}
      ${row('Published', s?.publishTime)} ${row('Subscription', s?.subscription)}
      ${row('Delivery attempt', s?.deliveryAttempt)}
    </dl>
  </section>`;
}

interface Step {
  label: string;
  at: Date | null | undefined;
  detail?: string;
}

function timeline(job: JobDocument): SafeHtml {
  const queue = queueOf(job);
  const ended = isTerminalJobState(job.state);
  const steps: Step[] = [
    { label: job.state === 'rejected' ? 'rejected' : 'admitted', at: job.createdAt },
  ];
  if (queue?.queuedAt || job.state === 'queued') {
    steps.push({
      label: 'queued',
      at: queue?.queuedAt ?? job.createdAt,
      ...(queue?.reason ? { detail: queue.reason } : {}),
    });
  }
  if (job.state !== 'rejected') {
    steps.push({ label: 'dispatched', at: job.dispatchedAt });
    steps.push({ label: 'running', at: job.startedAt });
    steps.push({
      label: ended ? job.state : 'ended',
      at: ended ? (job.finishedAt ?? job.updatedAt) : null,
    });
  }
  const prev = (i: number): Date | undefined => {
    for (let j = i - 1; j >= 0; j--) {
      const at = steps[j]?.at;
      if (at instanceof Date) return at;
    }
    return undefined;
  };
  return html`<section aria-labelledby="h-timeline">
    <h2 id="h-timeline">Timeline</h2>
    <ol class="timeline">
      ${steps.map((step, i) => {
        const before = prev(i);
        const reached = step.at instanceof Date;
        return html`<li class="${reached ? 'done' : 'pending'}">
          <span class="step">${step.label}</span>
          ${reached ? html`<time datetime="${step.at!.toISOString()}">${formatTime(step.at)}</time>${before ? html` <span class="delta">+${formatDuration(step.at!.getTime() - before.getTime())}</span>` : ''}` : html`<span class="none">not yet</span>`}${step.detail ? html` <span class="detail">(${step.detail})</span>` : ''}
        </li>`;
      })}
    </ol>
  </section>`;
}

function taskRow(task: TaskDocument, logBase: string | undefined): SafeHtml {
  const retry = task.state === 'failed' && task.willRetry ? ' (will retry)' : '';
  const result =
    task.result && Object.keys(task.result).length > 0 ? JSON.stringify(task.result) : undefined;
  return html`<tr data-task="${task.taskIndex}" data-state="${task.state}">
    <th scope="row">${task.taskIndex}</th>
    <td>${stateBadge(task.state)}${retry}</td>
    <td>${task.attempt}</td>
    <td>
      ${progressBar(taskRatio(task), `progress of task ${task.taskIndex}`)}${task.progress && task.progress.total > 0 ? html` <span class="of">${task.progress.done}/${task.progress.total}</span>` : ''}
    </td>
    <td class="msg">${task.progress?.message ?? ''}</td>
    <td class="err">
      ${task.error ? html`<strong>${task.error.code}</strong>: ${task.error.message}` : ''}
    </td>
    <td class="result">${result ? html`<code>${result}</code>` : ''}</td>
    <td>
      ${task.finishedAt && task.startedAt ? formatDuration(task.finishedAt.getTime() - task.startedAt.getTime()) : ''}
    </td>
    ${logBase ? html`<td><a href="${logBase}/${task.taskIndex}/log" aria-label="log of task ${task.taskIndex}">log</a></td>` : ''}
  </tr>`;
}

function tasksSection(
  job: JobDocument,
  tasks: readonly TaskDocument[],
  logBase: string | undefined,
): SafeHtml {
  const expected = job.taskCount ?? tasks.length;
  return html`<section aria-labelledby="h-tasks">
    <h2 id="h-tasks">Tasks <span class="of">${tasks.length} of ${expected} reported</span></h2>
    ${
      tasks.length === 0
        ? html`<p class="none">No task has reported yet.</p>`
        : html`<table class="tasks">
            <thead>
              <tr>
                <th scope="col">Task</th>
                <th scope="col">State</th>
                <th scope="col">Attempt</th>
                <th scope="col">Progress</th>
                <th scope="col">Latest message</th>
                <th scope="col">Error</th>
                <th scope="col">Result</th>
                <th scope="col">Took</th>
                ${logBase ? html`<th scope="col">Output</th>` : ''}
              </tr>
            </thead>
            <tbody>
              ${tasks.map((t) => taskRow(t, logBase))}
            </tbody>
          </table>`
    }
  </section>`;
}

function executionSection(job: JobDocument, cost: JobCost | undefined): SafeHtml {
  const d = job.dispatch;
  const batch = batchOf(job);
  return html`<section aria-labelledby="h-execution">
    <h2 id="h-execution">Execution</h2>
    <dl class="fields">
      ${row('Execution', d?.executionName ? html`<code>${d.executionName}</code>` : html`<span class="none">not started</span>`)}
      ${row('Operation', d?.operationName ? html`<code>${d.operationName}</code>` : undefined)}
      ${row('Batch', batch?.batchId ? html`<code>${batch.batchId}</code>${batch.taskOffset !== undefined ? ` (tasks from ${batch.taskOffset})` : ''}` : undefined)}
      ${row('Dispatch attempts', d?.attempts)}
      ${row('Adopted after a takeover', d?.adopted ? 'yes' : undefined)}
      ${row('Cost', cost ? html`${cost.total} <span class="detail">(${cost.taskSeconds.toFixed(1)} task-seconds; ${cost.basis})</span>` : html`<span class="none">once tasks have recorded times</span>`)}
    </dl>
  </section>`;
}

/** The live part of the job page (everything but the cancel control). */
export function jobLive(
  snapshot: JobSnapshot,
  cost: JobCost | undefined,
  now: Date,
  logs = false,
): SafeHtml {
  // Task output is linked only where the host can read it (the local emulator's logUri).
  const logBase = logs ? `/jobs/${encodeURIComponent(snapshot.requestId)}/tasks` : undefined;
  const job = snapshot.job;
  if (!job) {
    return html`<p class="notice" role="status">
      No job with request id <code>${snapshot.requestId}</code> yet. This page shows it as soon as
      the bridge admits it.
    </p>`;
  }
  const issues = job.issues ?? [];
  return html`<div class="summary" data-state="${job.state}">
      ${stateBadge(job.state, job.cancelRequested === true)}
      ${progressBar(jobRatio(job), 'job progress')}
      <span>created ${age(job.createdAt, now)}</span>
      <span>run time ${duration(job, now)}</span>
    </div>
    ${
      job.error
        ? html`<div class="error" role="alert">
            <h2>Error</h2>
            <p><strong>${job.error.code}</strong>: ${job.error.message}</p>
          </div>`
        : ''
    }
    ${
      issues.length > 0
        ? html`<div class="error" role="alert">
            <h2>Why it was rejected</h2>
            <ul>
              ${issues.map((i) => html`<li><code>${i.path}</code>: ${i.reason}</li>`)}
            </ul>
          </div>`
        : ''
    }
    ${timeline(job)} ${tasksSection(job, snapshot.tasks, logBase)}
    <div class="columns">${requestSection(job)}${executionSection(job, cost)}</div>`;
}

/** Whether the cancel button applies: the job exists and has not ended. */
export function cancellable(snapshot: JobSnapshot): boolean {
  return snapshot.job !== null && !isTerminalJobState(snapshot.job.state);
}

export function cancelControl(snapshot: JobSnapshot, allowCancel: boolean): SafeHtml {
  if (!allowCancel || !cancellable(snapshot)) return html``;
  const disabled = snapshot.job?.cancelRequested === true;
  return html`<form
    method="post"
    action="/jobs/${encodeURIComponent(snapshot.requestId)}/cancel"
    data-cancel
  >
    <button type="submit" class="danger" ${disabled ? html` disabled` : ''}>Cancel job</button>
  </form>`;
}

/** The whole job page body. */
export function jobBody(
  snapshot: JobSnapshot,
  options: {
    allowCancel: boolean;
    cost: JobCost | undefined;
    now: Date;
    notice?: string;
    logs?: boolean;
  },
): SafeHtml {
  return html`<p class="crumbs"><a href="/">Jobs</a> /</p>
    <div class="head">
      <h1><code>${snapshot.requestId}</code></h1>
      <div data-region="cancel">${cancelControl(snapshot, options.allowCancel)}</div>
      <span class="cancel-result" role="status" aria-live="polite"></span>
    </div>
    ${options.notice ? html`<p class="notice" role="status">${options.notice}</p>` : ''}
    <div data-region="job">${jobLive(snapshot, options.cost, options.now, options.logs)}</div>`;
}
