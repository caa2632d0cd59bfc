import { z } from 'zod';

/** One problem with one env var. */
export interface ConfigIssue {
  name: string;
  reason: string;
}

/** The environment did not make a valid config; lists every problem at once, each by its name. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];
  /** The first variable at fault. */
  readonly field: string;
  constructor(issues: readonly ConfigIssue[]);
  constructor(name: string, reason: string);
  constructor(issuesOrName: readonly ConfigIssue[] | string, reason?: string) {
    const issues =
      typeof issuesOrName === 'string'
        ? [{ name: issuesOrName, reason: reason ?? 'is invalid' }]
        : issuesOrName;
    const lines = issues.map((i) => `${i.name} ${i.reason}`);
    super(
      lines.length === 1 ? (lines[0] ?? '') : `invalid configuration:\n  ${lines.join('\n  ')}`,
    );
    this.issues = issues;
    this.field = issues[0]?.name ?? '';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** A variable's parser: the raw value (undefined when unset or blank) to its typed value. */
export type VariableSchema<T> = z.ZodType<T, string | undefined>;

/** An env var: its fixed name, how it is parsed and what it is for. */
export interface Variable<T> {
  name: string;
  schema: VariableSchema<T>;
  doc: string;
}

/** Collects every problem of one read, so one start tells the operator everything to fix. */
export class Issues {
  readonly list: ConfigIssue[] = [];
  add(name: string, reason: string): void {
    this.list.push({ name, reason });
  }
  /** Throws a ConfigError when any problem was found. */
  throwIfAny(): void {
    if (this.list.length > 0) throw new ConfigError(this.list);
  }
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === '' ? undefined : value;
}

/**
 * Reads the given variables from `env`, every one of them: a bad value is recorded in `issues`
 * under the variable's name (and read as undefined), so the caller can add its own cross-checks
 * before throwing all of them at once.
 */
export function readVariables<V extends Record<string, Variable<unknown>>>(
  env: Env,
  variables: V,
  issues: Issues,
): { [K in keyof V]: V[K] extends Variable<infer T> ? T : never } {
  const out: Record<string, unknown> = {};
  for (const [key, variable] of Object.entries(variables)) {
    const parsed = variable.schema.safeParse(raw(env, variable.name));
    if (parsed.success) out[key] = parsed.data;
    else {
      for (const issue of parsed.error.issues) issues.add(variable.name, issue.message);
      out[key] = undefined;
    }
  }
  return out as { [K in keyof V]: V[K] extends Variable<infer T> ? T : never };
}

/** The reason of a failed refinement, for zod's `message`. */
const fail = (ctx: z.RefinementCtx, message: string): typeof z.NEVER => {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
};

/** A string, or undefined when unset. */
export const text = (): VariableSchema<string | undefined> => z.string().optional();

/** A string with a default. */
export const textOr = (fallback: string): VariableSchema<string> =>
  z
    .string()
    .optional()
    .transform((v) => v ?? fallback);

/** A non-negative integer within [min, max], `fallback` when unset. */
export function integer(
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): VariableSchema<number> {
  return z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return fallback;
      if (!/^\d+$/.test(v)) return fail(ctx, `must be a non-negative integer, got "${v}"`);
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n > max) return fail(ctx, `must be at most ${max}, got ${v}`);
      if (n < min) return fail(ctx, `must be at least ${min}, got ${n}`);
      return n;
    });
}

/** Like `integer`, undefined when unset. */
export function optionalInteger(min: number, max = Number.MAX_SAFE_INTEGER) {
  const parse = integer(0, min, max);
  return z
    .string()
    .optional()
    .transform((v, ctx): number | undefined => {
      if (v === undefined) return undefined;
      const parsed = parse.safeParse(v);
      if (parsed.success) return parsed.data;
      return fail(ctx, parsed.error.issues[0]?.message ?? 'is invalid');
    });
}

/** `true` or `false` (unset: false). */
export const flag = (): VariableSchema<boolean> =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === 'false') return false;
      if (v === 'true') return true;
      return fail(ctx, `must be "true" or "false", got "${v}"`);
    });

/** One of `values`, or undefined when unset. */
export const oneOf = <T extends string>(values: readonly T[]): VariableSchema<T | undefined> =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      if ((values as readonly string[]).includes(v)) return v as T;
      return fail(ctx, `must be one of ${values.join(', ')}`);
    });
