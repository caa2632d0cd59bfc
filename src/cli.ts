#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { nodeVersionRefusal } from './node-version.ts';
import { errorMessage } from './errors/coerce.ts';

/**
 * Each subcommand lives in its own module under src/cli/ and is loaded only when run, so that
 * `jobbridge work` does not pay for the bridge's or the emulator's imports at cold start.
 */
type Register = (program: Command) => void;
const COMMANDS: Record<string, () => Promise<{ register: Register }>> = {
  publish: () => import('./cli/publish.ts'),
  list: () => import('./cli/list.ts'),
  status: () => import('./cli/status.ts'),
  watch: () => import('./cli/watch.ts'),
  cancel: () => import('./cli/cancel.ts'),
  work: () => import('./cli/work.ts'),
  cost: () => import('./cli/cost.ts'),
  serve: () => import('./cli/serve.ts'),
  emulator: () => import('./cli/emulator.ts'),
  reconcile: () => import('./cli/reconcile.ts'),
  dev: () => import('./cli/dev.ts'),
  ui: () => import('./cli/ui.ts'),
};

/** The names of every subcommand, in the order `jobbridge --help` lists them. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/** The `jobbridge` program with the subcommands `names` registered (all of them by default). */
export async function buildProgram(names: readonly string[] = COMMAND_NAMES): Promise<Command> {
  const program = new Command('jobbridge')
    .description('Exactly-once bridge from Pub/Sub job requests to Cloud Run Jobs executions')
    .exitOverride()
    .showHelpAfterError('(run jobbridge --help for usage)');
  for (const name of names) {
    const loader = COMMANDS[name];
    if (loader) (await loader()).register(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const requested = argv[2];
  const program = await buildProgram(
    requested !== undefined && requested in COMMANDS ? [requested] : COMMAND_NAMES,
  );
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors exit 2.
      return err.exitCode === 0 ? 0 : 2;
    }
    // One line: a client library's message can run to pages (gRPC retries, stacks).
    const message = errorMessage(err)
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .join('; ');
    process.stderr.write(
      `jobbridge: ${message.length > 400 ? `${message.slice(0, 399)}…` : message}\n`,
    );
    return 1;
  }
}

// An old Node.js has no import.meta.main at all: there, refuse in one line instead of doing
// nothing. (On such a Node this module can only be the entry point: nothing else runs.)
if (import.meta.main !== false) {
  const refusal = nodeVersionRefusal(process.versions.node);
  if (refusal !== undefined) {
    process.stderr.write(`${refusal}\n`);
    process.exitCode = 1;
  } else if (import.meta.main) {
    process.exitCode = await main(process.argv);
  }
}
