import { z } from 'zod';
import { errorMessage } from '../errors/coerce.ts';
import { deniedEnvReason, envNameAllowed, ENV_NAME_PREFIX_PATTERN } from './env.ts';
import { LIMITS } from './limits.ts';
import {
  ENV_NAME_PATTERN,
  FUNCTION_NAME_PATTERN,
  JOB_NAME_PATTERN,
  ValidationError,
  type FieldIssue,
  type JobRequest,
  type Parsed,
} from './request.ts';

/**
 * What a request for one job may ask for (`JOBBRIDGE_JOB_POLICY`, one entry per job name).
 * Publishing a request means running code as the job's service account, so everything beyond
 * "run the job as the operator defined it" must be allowed here.
 */
export interface JobPolicy {
  /** Functions a request may name; undefined: any (the worker refuses unregistered ones). */
  functions: readonly string[] | undefined;
  /** Whether a request without `function` may replace the job's args. */
  rawArgs: boolean;
  /** Env names a request may set: exact names or prefixes ending in `*`. */
  env: readonly string[];
  maxTaskCount: number;
  maxTimeoutSeconds: number;
}

/** The policy of a job on `JOBBRIDGE_JOBS` without an entry: no raw args, no env, Cloud Run's caps. */
export const DEFAULT_JOB_POLICY: JobPolicy = Object.freeze({
  functions: undefined,
  rawArgs: false,
  env: Object.freeze([]),
  maxTaskCount: LIMITS.taskCountMax,
  maxTimeoutSeconds: LIMITS.timeoutSecondsMax,
});

/** Job name → policy; a job without an entry gets DEFAULT_JOB_POLICY. */
export type JobPolicies = ReadonlyMap<string, JobPolicy>;

const intUpTo = (max: number, unit: string) =>
  z
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max} (${unit})`);

const envPattern = z.string().superRefine((p, ctx) => {
  const exact = !p.endsWith('*');
  if (exact ? !ENV_NAME_PATTERN.test(p) : !ENV_NAME_PREFIX_PATTERN.test(p.slice(0, -1))) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an env name ([A-Za-z_][A-Za-z0-9_]*) or a prefix of one ending in *',
    });
  } else if (exact && deniedEnvReason(p) !== undefined) {
    ctx.addIssue({ code: 'custom', message: `can never be set: ${deniedEnvReason(p)}` });
  }
});

const entrySchema = z.strictObject({
  functions: z.array(z.string().regex(FUNCTION_NAME_PATTERN, 'must be a function name')).optional(),
  rawArgs: z.boolean({ error: 'must be true or false' }).optional(),
  env: z.array(envPattern).optional(),
  maxTaskCount: intUpTo(LIMITS.taskCountMax, "Cloud Run's limit").optional(),
  maxTimeoutSeconds: intUpTo(LIMITS.timeoutSecondsMax, "168 h, Cloud Run's limit").optional(),
});

const policySchema = z.record(z.string(), entrySchema).superRefine((policies, ctx) => {
  for (const job of Object.keys(policies)) {
    if (!JOB_NAME_PATTERN.test(job)) {
      ctx.addIssue({
        code: 'custom',
        path: [job],
        message: 'is not a Cloud Run job name ([a-z][-a-z0-9]*, at most 63)',
      });
    }
  }
});

function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(root)';
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.join(', ');
      return {
        path: [path === '(root)' ? '' : path, issue.keys[0]].filter(Boolean).join('.'),
        reason: `unknown field (${keys}); known: functions, rawArgs, env, maxTaskCount, maxTimeoutSeconds`,
      };
    }
    if (issue.code === 'invalid_type' && path === '(root)') {
      return { path, reason: 'must be a JSON object of job name to policy' };
    }
    return { path, reason: issue.message };
  });
}

/** Validates an already decoded policy object. Paths name the job and the field. */
export function parseJobPolicies(input: unknown): Parsed<JobPolicies> {
  const result = policySchema.safeParse(input);
  if (!result.success) {
    return { ok: false, error: new ValidationError('job policy', issuesOf(result.error)) };
  }
  const policies = new Map<string, JobPolicy>();
  for (const [job, entry] of Object.entries(result.data)) {
    policies.set(job, {
      functions: entry.functions,
      rawArgs: entry.rawArgs ?? DEFAULT_JOB_POLICY.rawArgs,
      env: entry.env ?? DEFAULT_JOB_POLICY.env,
      maxTaskCount: entry.maxTaskCount ?? DEFAULT_JOB_POLICY.maxTaskCount,
      maxTimeoutSeconds: entry.maxTimeoutSeconds ?? DEFAULT_JOB_POLICY.maxTimeoutSeconds,
    });
  }
  return { ok: true, value: policies };
}

/** Parses the JSON text of `JOBBRIDGE_JOB_POLICY` (or of its file). */
export function parseJobPolicyText(text: string): Parsed<JobPolicies> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err: unknown) {
    const why = errorMessage(err);
    return {
      ok: false,
      error: new ValidationError('job policy', [
        { path: '(root)', reason: `is not JSON (${why})` },
      ]),
    };
  }
  return parseJobPolicies(value);
}

/** The policy of `job`: its entry, or the defaults. */
export function policyFor(policies: JobPolicies, job: string): JobPolicy {
  return policies.get(job) ?? DEFAULT_JOB_POLICY;
}

/**
 * Where a valid request goes beyond what its job's policy allows, one issue per field, each
 * naming the policy setting that refuses it. Empty when the request is within the policy.
 */
export function policyIssues(request: JobRequest, policy: JobPolicy): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const job = request.job;
  if (request.function !== undefined && policy.functions !== undefined) {
    if (!policy.functions.includes(request.function)) {
      const allowed = policy.functions.length > 0 ? policy.functions.join(', ') : 'none';
      issues.push({
        path: 'function',
        reason: `is not a function job ${job} may run (policy functions: ${allowed})`,
      });
    }
  }
  if (request.function === undefined && request.args !== undefined && !policy.rawArgs) {
    issues.push({
      path: 'args',
      reason: `without a function would replace the container args of job ${job}, and its policy does not allow raw args (rawArgs)`,
    });
  }
  for (const name of Object.keys(request.env ?? {})) {
    if (!envNameAllowed(name, policy.env)) {
      issues.push({
        path: `env.${name}`,
        reason: `is not an env name job ${job} accepts (policy env: ${policy.env.join(', ') || 'none'})`,
      });
    }
  }
  if (request.taskCount !== undefined && request.taskCount > policy.maxTaskCount) {
    issues.push({
      path: 'taskCount',
      reason: `must be at most ${policy.maxTaskCount} for job ${job} (policy maxTaskCount)`,
    });
  }
  if (request.timeoutSeconds !== undefined && request.timeoutSeconds > policy.maxTimeoutSeconds) {
    issues.push({
      path: 'timeoutSeconds',
      reason: `must be at most ${policy.maxTimeoutSeconds} for job ${job} (policy maxTimeoutSeconds)`,
    });
  }
  return issues;
}
