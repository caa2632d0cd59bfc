import { z } from 'zod';
import { deniedEnvReason } from './env.ts';
import { MESSAGE_ID_PREFIX } from './document-id.ts';
import { LIMITS } from './limits.ts';

/** One problem with an input: where (a dotted field path) and why. */
export interface FieldIssue {
  path: string;
  reason: string;
}

/** How much of a refused input's issues is kept: they are stored, logged and answered. */
export const ISSUE_BOUNDS = { maxIssues: 20, pathMaxChars: 200, reasonMaxChars: 300 } as const;

function clip(text: string, max: number): string {
  // Cut on code points, so a clipped text never ends in half a surrogate pair.
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * Issues cut to a size that fits any document and log line, whatever the input was: a request
 * with a megabyte of unknown keys (or one huge key) must still be recorded as `rejected`, once.
 */
export function boundIssues(issues: readonly FieldIssue[]): FieldIssue[] {
  const kept = issues.slice(0, ISSUE_BOUNDS.maxIssues).map((i) => ({
    path: clip(i.path, ISSUE_BOUNDS.pathMaxChars),
    reason: clip(i.reason, ISSUE_BOUNDS.reasonMaxChars),
  }));
  const more = issues.length - kept.length;
  if (more > 0) kept.push({ path: '(more)', reason: `${more} more issues not listed` });
  return kept;
}

/** Input that failed validation; the message lists every field and its reason (bounded). */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  readonly what: string;
  readonly issues: readonly FieldIssue[];
  constructor(what: string, issues: readonly FieldIssue[]) {
    const bounded = boundIssues(issues);
    super(`invalid ${what}: ${bounded.map((i) => `${i.path}: ${i.reason}`).join('; ')}`);
    this.what = what;
    this.issues = bounded;
  }
  /** The first offending field, for reason codes such as `rejected:taskCount`. */
  get field(): string {
    return this.issues[0]?.path ?? '(root)';
  }
}

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * A lone surrogate (`"\ud800"`) is not Unicode: UTF-8 encoders replace it with U+FFFD, so two
 * different ids or values would reach Firestore, Pub/Sub or a task as the same bytes.
 */
const WELL_FORMED = 'must not contain lone surrogates (not valid Unicode)';
const wellFormed = (s: string): boolean => s.isWellFormed();

/** Keys that would reach an object's prototype machinery if ever used as a plain property. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Cloud Run job names: lowercase letters, digits and hyphens, starting with a letter, ≤ 63. */
export const JOB_NAME_PATTERN = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
/** Function names in `functions/`: a letter, then letters, digits, `-` or `_`, ≤ 63. */
export const FUNCTION_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
/** POSIX-style env names. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Google Cloud label keys. */
export const LABEL_KEY_PATTERN = /^[a-z][a-z0-9_-]*$/;
export const LABEL_VALUE_PATTERN = /^[a-z0-9_-]*$/;

/** A Cloud Run job's name, as a request or a batch names it. */
export const jobNameSchema = z
  .string()
  .regex(JOB_NAME_PATTERN, 'must be a Cloud Run job name ([a-z][-a-z0-9]*, at most 63)');

/** A job function's name, as a request or a batch member names it. */
export const functionNameSchema = z
  .string()
  .regex(FUNCTION_NAME_PATTERN, 'must be a function name ([A-Za-z][A-Za-z0-9_-]*, at most 63)');

/** A task count, as a request or a batch member asks for it. */
export const taskCountSchema = z
  .number()
  .int('must be an integer')
  .min(LIMITS.taskCountMin, `must be at least ${LIMITS.taskCountMin}`)
  .max(LIMITS.taskCountMax, `must be at most ${LIMITS.taskCountMax}`);

/** A task's timeout, as a request or a batch asks for it. */
export const timeoutSecondsSchema = z
  .number()
  .int('must be an integer')
  .min(LIMITS.timeoutSecondsMin, `must be at least ${LIMITS.timeoutSecondsMin}`)
  .max(LIMITS.timeoutSecondsMax, `must be at most ${LIMITS.timeoutSecondsMax} (168 h)`);

export const requestIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .refine(
    (s) => utf8(s) <= LIMITS.requestIdMaxBytes,
    `must be at most ${LIMITS.requestIdMaxBytes} bytes`,
  )
  .refine((s) => !CONTROL_CHARS.test(s), 'must not contain control characters')
  .refine(wellFormed, WELL_FORMED)
  .refine(
    (s) => !s.startsWith(MESSAGE_ID_PREFIX),
    `must not start with ${MESSAGE_ID_PREFIX} (reserved for ids made from the Pub/Sub messageId)`,
  );

/** A request's `args`: bounded in count and bytes, no NUL, valid Unicode. */
export const jobArgsSchema = z
  .array(
    z
      .string()
      .refine((s) => utf8(s) <= LIMITS.argMaxBytes, `must be at most ${LIMITS.argMaxBytes} bytes`)
      // exec takes no NUL byte: such an argument could never reach the task.
      .refine((s) => !s.includes('\u0000'), 'must not contain NUL')
      .refine(wellFormed, WELL_FORMED),
  )
  .max(LIMITS.argsMaxCount, `must have at most ${LIMITS.argsMaxCount} items`)
  .refine(
    (a) => a.reduce((n, s) => n + utf8(s), 0) <= LIMITS.argsMaxTotalBytes,
    `must total at most ${LIMITS.argsMaxTotalBytes} bytes`,
  );

/** A request's `env`: POSIX names off the denylist, bounded values. */
export const jobEnvSchema = z.record(z.string(), z.string()).superRefine((env, ctx) => {
  const names = Object.keys(env);
  if (names.length > LIMITS.envMaxCount) {
    ctx.addIssue({ code: 'custom', message: `must have at most ${LIMITS.envMaxCount} names` });
  }
  let total = 0;
  for (const name of names) {
    const value = env[name] ?? '';
    total += utf8(name) + utf8(value);
    const path = [name];
    if (FORBIDDEN_KEYS.has(name)) {
      ctx.addIssue({ code: 'custom', path, message: 'is a reserved key' });
    } else if (name.length > LIMITS.envNameMaxLength) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `name must be at most ${LIMITS.envNameMaxLength} characters`,
      });
    } else if (!ENV_NAME_PATTERN.test(name)) {
      ctx.addIssue({ code: 'custom', path, message: 'name must match [A-Za-z_][A-Za-z0-9_]*' });
    } else {
      const denied = deniedEnvReason(name);
      if (denied) ctx.addIssue({ code: 'custom', path, message: denied });
    }
    if (utf8(value) > LIMITS.envValueMaxBytes) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `value must be at most ${LIMITS.envValueMaxBytes} bytes`,
      });
    }
    if (value.includes('\u0000')) {
      ctx.addIssue({ code: 'custom', path, message: 'value must not contain NUL' });
    }
    if (!wellFormed(value)) ctx.addIssue({ code: 'custom', path, message: `value ${WELL_FORMED}` });
  }
  if (total > LIMITS.envMaxTotalBytes) {
    ctx.addIssue({
      code: 'custom',
      message: `must total at most ${LIMITS.envMaxTotalBytes} bytes`,
    });
  }
});

const labelsSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  const keys = Object.keys(labels);
  if (keys.length > LIMITS.labelsMaxCount) {
    ctx.addIssue({ code: 'custom', message: `must have at most ${LIMITS.labelsMaxCount} labels` });
  }
  for (const key of keys) {
    const value = labels[key] ?? '';
    const path = [key];
    if (FORBIDDEN_KEYS.has(key)) {
      ctx.addIssue({ code: 'custom', path, message: 'is a reserved key' });
    } else if (key.length > LIMITS.labelKeyMaxLength || !LABEL_KEY_PATTERN.test(key)) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `key must be 1-${LIMITS.labelKeyMaxLength} of [a-z0-9_-], starting with a letter`,
      });
    }
    if (value.length > LIMITS.labelValueMaxLength || !LABEL_VALUE_PATTERN.test(value)) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `value must be 0-${LIMITS.labelValueMaxLength} of [a-z0-9_-]`,
      });
    }
  }
});

/** The job request, `schemaVersion` 1 (DESIGN.md). Unknown fields are refused. */
export const jobRequestSchema = z.strictObject({
  schemaVersion: z.literal(LIMITS.schemaVersion, {
    error: `must be ${LIMITS.schemaVersion} (the only schema version this bridge reads)`,
  }),
  requestId: requestIdSchema.optional(),
  job: jobNameSchema,
  function: functionNameSchema.optional(),
  args: jobArgsSchema.optional(),
  env: jobEnvSchema.optional(),
  taskCount: taskCountSchema.optional(),
  timeoutSeconds: timeoutSecondsSchema.optional(),
  labels: labelsSchema.optional(),
  /** Per-key concurrency (at most N running per key), applied by the bridge's config. */
  concurrencyKey: z
    .string()
    .min(1, 'must not be empty')
    .max(128, 'must be at most 128 characters')
    .refine((s) => !CONTROL_CHARS.test(s), 'must not contain control characters')
    .refine(wellFormed, WELL_FORMED)
    .optional(),
});

export type JobRequest = z.infer<typeof jobRequestSchema>;

/** A zod error as field issues (dotted paths, readable reasons). */
export function fieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(root)';
    let reason = issue.message;
    if (issue.code === 'unrecognized_keys') {
      // Named, but only a few and each cut short: they are stored with the rejection.
      const shown = issue.keys.slice(0, 5).map((k) => clip(k, 40));
      const more = issue.keys.length - shown.length;
      const list = shown.join(', ') + (more > 0 ? ` and ${more} more` : '');
      return { path: issue.keys[0] ?? path, reason: `unknown field (${list})` };
    }
    if (issue.code === 'invalid_type' && /received undefined/.test(reason)) reason = 'is required';
    return { path, reason };
  });
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: ValidationError };

/**
 * Own keys such as `__proto__` that JSON.parse creates as plain properties; a schema library
 * copying them could set a prototype instead, so they are found before it runs.
 */
function forbiddenKeyIssues(value: unknown, path: string[], depth = 0): FieldIssue[] {
  if (depth > 3 || typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const issues: FieldIssue[] = [];
  for (const key of Object.keys(value)) {
    const here = [...path, key];
    if (FORBIDDEN_KEYS.has(key)) issues.push({ path: here.join('.'), reason: 'is a reserved key' });
    else
      issues.push(...forbiddenKeyIssues((value as Record<string, unknown>)[key], here, depth + 1));
  }
  return issues;
}

/** Validates an already JSON-decoded value as a job request. Never throws. */
export function parseJobRequest(input: unknown): Parsed<JobRequest> {
  const forbidden = forbiddenKeyIssues(input, []);
  if (forbidden.length > 0)
    return { ok: false, error: new ValidationError('job request', forbidden) };
  const result = jobRequestSchema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, error: new ValidationError('job request', fieldIssues(result.error)) };
}

/** Validates a job request or throws a ValidationError naming each field and reason. */
export function assertJobRequest(input: unknown): JobRequest {
  const parsed = parseJobRequest(input);
  if (!parsed.ok) throw parsed.error;
  return parsed.value;
}
