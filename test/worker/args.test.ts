import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PermanentError } from '../../src/worker/errors.ts';
import { argsChecks, argsProblem } from '../../src/worker/args.ts';
import type { FunctionRegistry, JobFunctionModule } from '../../src/worker/function-types.ts';
import { loadCheckedFunction } from '../../src/worker/registry.ts';

/** A registry of one function that records whether it ran, with `args` as its declaration. */
function registryWith(args: JobFunctionModule['args']): {
  registry: FunctionRegistry;
  ran: string[][];
} {
  const ran: string[][] = [];
  const mod: JobFunctionModule = {
    default: (ctx) => {
      ran.push([...ctx.args]);
    },
    ...(args && { args }),
  };
  return { registry: { typed: () => Promise.resolve(mod) }, ran };
}

const zodArgs = z.tuple([z.url(), z.enum(['png', 'jpeg'])]);
const parseArgs = (args: readonly string[]): number => {
  if (args.length !== 1 || !/^\d+$/.test(args[0] ?? ''))
    throw new Error(`expected one count, got ${JSON.stringify(args)}`);
  return Number(args[0]);
};

describe("a function's declared args", () => {
  it('a parse function: its error is the reason', () => {
    expect(argsProblem(parseArgs, ['3'])).toBeUndefined();
    expect(argsProblem(parseArgs, ['three'])).toBe('expected one count, got ["three"]');
  });

  it('a zod schema of the args: each issue names the arg by index', () => {
    expect(argsProblem(zodArgs, ['https://example.com', 'png'])).toBeUndefined();
    const problem = argsProblem(zodArgs, ['https://example.com', 'gif']);
    expect(problem).toMatch(/^args\[1\]: /);
  });

  it('the worker parses with the same declaration: refused args are permanent, the function never runs', async () => {
    const { registry, ran } = registryWith(parseArgs);
    const err: unknown = await loadCheckedFunction(registry, 'typed', ['three']).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toBe(
      'function "typed": invalid args: expected one count, got ["three"]',
    );
    expect(ran).toEqual([]);
    const fn = await loadCheckedFunction(registry, 'typed', ['3']);
    expect(fn).toBeTypeOf('function');
  });

  it('a function without a declaration keeps taking any args', async () => {
    const { registry } = registryWith(undefined);
    await expect(loadCheckedFunction(registry, 'typed', ['--anything'])).resolves.toBeTypeOf(
      'function',
    );
    expect(await argsChecks(registry)).toEqual({});
  });

  it('the producer gets the same check from the registry', async () => {
    const { registry } = registryWith(zodArgs);
    const checks = await argsChecks(registry);
    expect(checks.typed?.(['not a url', 'png'])).toBe(argsProblem(zodArgs, ['not a url', 'png']));
  });
});
