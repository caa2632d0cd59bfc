import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { EmulatorJobSpec, JobFile } from './api.ts';
import { errorMessage } from '../errors/coerce.ts';
import { reservedEnvName } from './overrides.ts';

/** Cloud Run's own limits, so that a job file cannot describe a job Cloud Run would refuse. */
const MAX_TASK_COUNT = 10_000;
const MAX_TIMEOUT_SECONDS = 168 * 3600;
const JOB_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

const jobSpecSchema = z.strictObject({
  command: z.array(z.string().min(1)).min(1),
  args: z.array(z.string()).optional(),
  env: z
    .record(z.string(), z.string())
    .superRefine((env, ctx) => {
      for (const name of Object.keys(env)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
          ctx.addIssue({ code: 'custom', path: [name], message: 'not a valid env var name' });
        else if (reservedEnvName(name))
          ctx.addIssue({ code: 'custom', path: [name], message: 'reserved by Cloud Run' });
      }
    })
    .optional(),
  taskCount: z.int().min(1).max(MAX_TASK_COUNT).optional(),
  parallelism: z.int().min(0).max(MAX_TASK_COUNT).optional(),
  maxRetries: z.int().min(0).max(10).optional(),
  timeoutSeconds: z.int().min(1).max(MAX_TIMEOUT_SECONDS).optional(),
});

const jobFileSchema = z.strictObject({
  jobs: z.record(z.string(), jobSpecSchema).superRefine((jobs, ctx) => {
    // Checked here rather than as the record's key schema, whose error would not name the key.
    for (const name of Object.keys(jobs)) {
      if (!JOB_NAME.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'not a Cloud Run job name (lowercase letters, digits, hyphens)',
        });
      }
    }
  }),
});

/** A job file whose relative command paths were resolved, with the folder they resolved from. */
export interface LoadedJobFile {
  jobs: JobFile;
  baseDir: string;
}

/**
 * Validates a parsed job file. Errors name the field path and the reason, e.g.
 * `jobs.screenshot.taskCount: Too big: expected number to be <=10000`.
 */
export function parseJobFile(value: unknown, source = 'job file'): JobFile {
  const result = jobFileSchema.safeParse(value);
  if (!result.success) {
    const reasons = result.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new Error(`invalid ${source}: ${reasons.join('; ')}`);
  }
  return result.data;
}

/**
 * A command element that names a file relative to the job file (`dist/cli.js`, `./run.sh`) is
 * made absolute; bare program names (`node`) stay as they are so PATH finds them.
 */
export function resolveCommand(command: string[], baseDir: string): string[] {
  return command.map((part) =>
    !isAbsolute(part) && !part.startsWith('-') && part.includes('/')
      ? resolve(baseDir, part)
      : part,
  );
}

/** Reads, validates and resolves a job file (DESIGN.md, "Names that are fixed"). */
export async function loadJobFile(path: string): Promise<LoadedJobFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: unknown) {
    throw new Error(`cannot read job file ${path}: ${errorMessage(err)}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err: unknown) {
    throw new Error(`job file ${path} is not JSON: ${errorMessage(err)}`, { cause: err });
  }
  const parsed = parseJobFile(raw, `job file ${path}`);
  const baseDir = dirname(resolve(path));
  const jobs: Record<string, EmulatorJobSpec> = {};
  for (const [name, spec] of Object.entries(parsed.jobs)) {
    jobs[name] = { ...spec, command: resolveCommand(spec.command, baseDir) };
  }
  return { jobs: { jobs }, baseDir };
}
