import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { functions } from '../../functions/index.ts';
import { buildProgram, COMMAND_NAMES } from '../../src/cli.ts';
import { argsProblem } from '../../src/worker/args.ts';

/**
 * Every `$ …` example of every command's `--help`, checked against what `npm start` runs (the
 * dev stack of examples/jobs.json, the functions of functions/) and against the commands' own
 * parsers, without running them: each `jobbridge …` invocation in an example (the outer one and
 * any inside `"$(…)"`) is parsed by the real program with every action replaced by a recorder,
 * and a publish must name a job of the dev stack, a function of the image, and args that
 * function's declaration accepts. Running them all for real would start the whole stack.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEV_JOBS = Object.keys(
  (JSON.parse(readFileSync(`${ROOT}examples/jobs.json`, 'utf8')) as { jobs: object }).jobs,
);
/** Commands that Cloud Run runs, not people: their help explains their env instead. */
const RUN_BY_CLOUD_RUN = new Set(['serve', 'work']);

async function helpOf(name: string): Promise<string> {
  const program = await buildProgram([name]);
  const command = program.commands.find((c) => c.name() === name) as Command;
  let help = '';
  command.configureOutput({ writeOut: (s) => (help += s) });
  command.outputHelp();
  return help;
}

/** The example lines (`  $ …`) of a help text, without the `$ `. */
const examplesIn = (help: string): string[] =>
  help
    .split('\n')
    .filter((l) => l.trimStart().startsWith('$ '))
    .map((l) => l.trimStart().slice(2));

/** Shell words of one simple command: quotes honoured, `|` and `#` end it. */
function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"([^"]*)"|'([^']*)'|(\|.*$|#.*$)|(\S+)/g)) {
    if (m[3] !== undefined) break;
    out.push(m[1] ?? m[2] ?? m[4] ?? '');
  }
  return out;
}

/** Each `jobbridge …` invocation of an example, innermost `$(…)` first, as argv after `jobbridge`. */
function invocations(example: string): string[][] {
  const found: string[][] = [];
  let line = example;
  for (let m = /\$\(([^()]*)\)/.exec(line); m; m = /\$\(([^()]*)\)/.exec(line)) {
    found.push(...invocations(m[1] ?? ''));
    // What the substitution prints: a request id.
    line = line.replace(m[0], '0190c6a1-7d3e-7b2a-9f41-2d1c0e5a8b77');
  }
  const argv = words(line).filter(
    (w, i, all) => !all.slice(0, i + 1).every((x) => /^\w+=/.test(x)),
  );
  if (argv[0] === 'jobbridge') found.push(argv.slice(1));
  return found;
}

interface Parsed {
  name: string;
  opts: Record<string, unknown>;
  args: unknown[];
}

/** Parses argv with the real program, every action replaced by a recorder. */
async function parse(argv: string[]): Promise<Parsed> {
  const program = await buildProgram();
  let parsed: Parsed | undefined;
  for (const command of program.commands) {
    command.exitOverride();
    command.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    command.action((...params: unknown[]) => {
      parsed = { name: command.name(), opts: command.opts(), args: params.slice(0, -2) };
    });
  }
  await program.parseAsync(['node', 'jobbridge', ...argv]);
  if (parsed === undefined) throw new Error(`no command ran for: jobbridge ${argv.join(' ')}`);
  return parsed;
}

describe("every command's --help examples work against npm start's stack", () => {
  it('each command a person runs has at least one example', async () => {
    for (const name of COMMAND_NAMES.filter((n) => !RUN_BY_CLOUD_RUN.has(n)))
      expect(examplesIn(await helpOf(name)), name).not.toEqual([]);
  });

  it('the examples parse, and publish names a dev-stack job, a function and args it accepts', async () => {
    const seen: string[] = [];
    for (const name of COMMAND_NAMES) {
      for (const example of examplesIn(await helpOf(name))) {
        if (example.startsWith('npm start')) {
          const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
            scripts: Record<string, string>;
          };
          expect(pkg.scripts.start).toBe('node src/cli.ts dev');
          continue;
        }
        const runs = invocations(example);
        expect(runs.length, example).toBeGreaterThan(0);
        for (const argv of runs) {
          const parsed = await parse(argv);
          seen.push(parsed.name);
          if (parsed.name !== 'publish') continue;
          const job = String(parsed.opts.job);
          expect(DEV_JOBS, example).toContain(job);
          const fn = parsed.opts.function as string | undefined;
          if (fn === undefined) continue;
          expect(Object.keys(functions), example).toContain(fn);
          const declaration = (await functions[fn]?.())?.args;
          const args = (parsed.args[0] ?? []) as string[];
          if (declaration) expect(argsProblem(declaration, args), example).toBeUndefined();
        }
      }
    }
    expect(new Set(seen)).toEqual(
      new Set(COMMAND_NAMES.filter((n) => !RUN_BY_CLOUD_RUN.has(n)).concat('publish')),
    );
  });

  it('a wrong example is caught: an unknown job, a bad arg of simulate, an unknown option', async () => {
    const check = async (example: string) => {
      for (const argv of invocations(example)) {
        const parsed = await parse(argv);
        if (parsed.name !== 'publish') continue;
        if (!DEV_JOBS.includes(String(parsed.opts.job))) return 'unknown job';
        const declaration = (await functions[String(parsed.opts.function)]?.())?.args;
        const problem = declaration && argsProblem(declaration, parsed.args[0] as string[]);
        if (problem) return problem;
      }
      return undefined;
    };
    expect(await check('jobbridge publish --job fanout --function fan-out')).toBe('unknown job');
    expect(
      await check(
        'jobbridge watch "$(jobbridge publish --job simulate --function simulate -- --duration 8s)"',
      ),
    ).toMatch(/duration/);
    await expect(check('jobbridge list --since 2h --colour')).rejects.toThrow(/unknown option/);
  });
});
