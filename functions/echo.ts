import { parseArgs } from 'node:util';
import { PermanentError } from '../src/worker/errors.ts';
import type { JobFunction } from '../src/worker/function-types.ts';

/** The only env names `echo` reports: it can never show a job's own settings or secrets. */
export const ECHO_ENV_PREFIX = 'ECHO_';

/** Options of `echo`, from its args (`--env ECHO_COLOR hello world`). */
export interface EchoOptions {
  /** Env names whose values the result shows (each starting with ECHO_). */
  env: string[];
  words: string[];
}

/** Parses echo's args; a bad one is a PermanentError naming it. */
export function parseEchoArgs(args: readonly string[]): EchoOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: true,
      options: { env: { type: 'string', multiple: true } },
    });
  } catch (err: unknown) {
    const first = (err as Error).message.split('. ')[0] ?? '';
    throw new PermanentError(`${first} (echo takes --env ECHO_NAME… and words)`, { cause: err });
  }
  const env = parsed.values.env ?? [];
  for (const name of env)
    if (!/^ECHO_[A-Z0-9_]+$/.test(name))
      throw new PermanentError(`echo: --env ${name}: only names starting with ${ECHO_ENV_PREFIX}`);
  return { env, words: parsed.positionals };
}

/**
 * Stores what its task saw: its args and words, `taskIndex`, `taskCount`, `attempt`, and the
 * values of the `ECHO_*` env names asked for (null when unset). A diagnostic: it shows how a
 * job's tasks are numbered and what each was given, e.g. each member's slice of a batch.
 */
const echo: JobFunction = (ctx) => {
  const o = parseEchoArgs(ctx.args);
  const env = Object.fromEntries(o.env.map((name) => [name, process.env[name] ?? null]));
  ctx.progress(1, 1, 'echoed');
  return {
    args: [...ctx.args],
    words: o.words,
    taskIndex: ctx.taskIndex,
    taskCount: ctx.taskCount,
    attempt: ctx.attempt,
    env,
  };
};

export default echo;

/** echo's declared args. */
export const args = parseEchoArgs;
