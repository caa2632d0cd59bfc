import type { FieldIssue } from '../contract/index.ts';
import { html, type SafeHtml } from './html.ts';

/** A request as the form builds it; the host publishes it (validating it as `jobbridge publish` does). */
export interface PublishRequest {
  job: string;
  function?: string;
  requestId?: string;
  args?: string[];
  env?: Record<string, string>;
  labels?: Record<string, string>;
  taskCount?: number;
  timeoutSeconds?: number;
  concurrencyKey?: string;
}

/**
 * Publishes a request; throws the contract's ValidationError (with its field issues) when the
 * request is refused, so the form shows the same reasons as the CLI.
 */
export type Publish = (request: PublishRequest) => Promise<{ requestId: string }>;

/** The form's fields as typed, to show them again next to their errors. */
export type PublishFields = Record<
  | 'job'
  | 'function'
  | 'requestId'
  | 'tasks'
  | 'timeout'
  | 'args'
  | 'env'
  | 'labels'
  | 'concurrencyKey',
  string
>;

/** The form field that sets each request field, as the CLI names its flag. */
const FIELD_OF_PATH: Record<string, string> = {
  job: 'Job',
  function: 'Function',
  requestId: 'Request id',
  taskCount: 'Tasks',
  timeoutSeconds: 'Timeout',
  env: 'Env',
  labels: 'Labels',
  concurrencyKey: 'Concurrency key',
  args: 'Args',
};

const EMPTY: PublishFields = {
  job: '',
  function: '',
  requestId: '',
  tasks: '',
  timeout: '',
  args: '',
  env: '',
  labels: '',
  concurrencyKey: '',
};

export function readFields(body: URLSearchParams): PublishFields {
  const fields = { ...EMPTY };
  for (const key of Object.keys(EMPTY) as (keyof PublishFields)[])
    fields[key] = body.get(key) ?? '';
  return fields;
}

function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

function keyValues(
  text: string,
  path: string,
  issues: FieldIssue[],
): Record<string, string> | undefined {
  const entries = lines(text);
  if (entries.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) issues.push({ path, reason: `"${entry}" is not KEY=VALUE` });
    else if (Object.hasOwn(out, entry.slice(0, eq)))
      issues.push({ path, reason: `${entry.slice(0, eq)} is given twice` });
    else out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

function integer(text: string, path: string, issues: FieldIssue[]): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  if (!/^-?\d+$/.test(t) || !Number.isSafeInteger(Number(t))) {
    issues.push({ path, reason: 'must be an integer' });
    return undefined;
  }
  return Number(t);
}

/**
 * Turns the form into a request, reading each field as the CLI reads its flag (one arg per line,
 * `K=V` lines for env and labels); what the form itself cannot read is reported the same way as
 * the contract's issues. Everything else is left to the contract's validation at publish.
 */
export function requestFromFields(fields: PublishFields): {
  request: PublishRequest;
  issues: FieldIssue[];
} {
  const issues: FieldIssue[] = [];
  const request: PublishRequest = { job: fields.job.trim() };
  const text = (value: string): string | undefined =>
    value.trim() === '' ? undefined : value.trim();
  const fn = text(fields.function);
  if (fn !== undefined) request.function = fn;
  const requestId = text(fields.requestId);
  if (requestId !== undefined) request.requestId = requestId;
  const args = fields.args.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (args.length > 0) request.args = args.map((a) => a.trim());
  const env = keyValues(fields.env, 'env', issues);
  if (env) request.env = env;
  const labels = keyValues(fields.labels, 'labels', issues);
  if (labels) request.labels = labels;
  const tasks = integer(fields.tasks, 'taskCount', issues);
  if (tasks !== undefined) request.taskCount = tasks;
  const timeout = integer(fields.timeout, 'timeoutSeconds', issues);
  if (timeout !== undefined) request.timeoutSeconds = timeout;
  const key = text(fields.concurrencyKey);
  if (key !== undefined) request.concurrencyKey = key;
  return { request, issues };
}

/** `taskCount (Tasks): must be at most 10000`, as the CLI says it with the flag. */
export function describeIssue(issue: FieldIssue): string {
  const field = FIELD_OF_PATH[issue.path.split('.')[0] ?? ''];
  return `${issue.path}${field ? ` (${field})` : ''}: ${issue.reason}`;
}

/** The publish page (local only: `jobbridge dev`). */
export function publishBody(input: {
  jobs: readonly string[];
  fields?: PublishFields;
  issues?: readonly FieldIssue[];
  failure?: string;
}): SafeHtml {
  const f = input.fields ?? { ...EMPTY, job: input.jobs[0] ?? '' };
  const issues = input.issues ?? [];
  const text = (name: keyof PublishFields, label: string, hint?: string) =>
    html`<label
      >${label}${hint ? html` <span class="hint">${hint}</span>` : ''}<input
        name="${name}"
        value="${f[name]}"
        autocomplete="off"
    /></label>`;
  const area = (name: keyof PublishFields, label: string, hint: string) =>
    html`<label
      >${label} <span class="hint">${hint}</span
      ><textarea name="${name}" rows="3">${f[name]}</textarea>
    </label>`;
  return html`<h1>Publish a job request</h1>
    <p>
      Validated as <code>jobbridge publish</code> validates it, then published on the local Pub/Sub
      topic; the job's page opens and follows it.
    </p>
    ${
      issues.length > 0
        ? html`<div class="error" role="alert">
            <h2>Invalid job request, nothing published</h2>
            <ul>
              ${issues.map((i) => html`<li>${describeIssue(i)}</li>`)}
            </ul>
          </div>`
        : ''
    }
    ${input.failure ? html`<p class="error" role="alert">${input.failure}</p>` : ''}
    <form class="publish" method="post" action="/publish">
      <label
        >Job
        <select name="job">
          ${input.jobs.map((j) => html`<option${j === f.job ? html` selected` : ''}>${j}</option>`)}
        </select></label
      >
      ${text('function', 'Function', 'in functions/, e.g. simulate')}
      ${area('args', 'Args', 'one per line')} ${text('tasks', 'Tasks')}
      ${text('timeout', 'Timeout', 'seconds')} ${area('env', 'Env', 'KEY=VALUE, one per line')}
      ${area('labels', 'Labels', 'key=value, one per line')}
      ${text('requestId', 'Request id', 'default: a new UUIDv7')}
      ${text('concurrencyKey', 'Concurrency key')}
      <div><button type="submit">Publish</button></div>
    </form>`;
}
