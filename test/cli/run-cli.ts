import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compileCacheEnv } from '../harness/child-env.ts';
import { emulatorHosts } from '../harness/google.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A running `jobbridge …` child: its output so far, and its exit. */
export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves once stdout contains `text`; rejects if the child exits first or after `timeoutMs`. */
  waitForOutput: (text: string | RegExp, timeoutMs?: number) => Promise<void>;
}

const running = new Set<ChildProcess>();

/** The env a CLI child needs to reach the emulators for `projectId`. */
export function cliEnv(projectId: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const hosts = emulatorHosts();
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GOOGLE_CLOUD_PROJECT: projectId,
    PUBSUB_EMULATOR_HOST: hosts.pubsub,
    FIRESTORE_EMULATOR_HOST: hosts.firestore,
    ...compileCacheEnv(),
    ...extra,
  };
}

/**
 * Starts `node src/cli.ts ARGS` (or, with `tty`, the same inside a pseudo-terminal made by
 * util-linux `script`, so the CLI sees `process.stdout.isTTY`).
 */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { tty?: boolean } = {},
): CliRun {
  const command = [process.execPath, CLI, ...args];
  const child = options.tty
    ? spawn('script', ['-qfec', command.map(shellQuote).join(' '), '/dev/null'], {
        env,
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(command[0] ?? 'node', command.slice(1), {
        env,
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    listeners.forEach((l) => l());
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      running.delete(child);
      listeners.forEach((l) => l());
      resolve({ code, stdout, stderr });
    });
  });
  const waitForOutput = (text: string | RegExp, timeoutMs = 20_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = typeof text === 'string' ? stdout.includes(text) : text.test(stdout);
        if (found) done(resolve);
        else if (child.exitCode !== null || child.signalCode !== null) {
          done(() =>
            reject(new Error(`cli exited before printing ${String(text)}: ${stdout}\n${stderr}`)),
          );
        }
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(new Error(`timed out waiting for ${String(text)} in: ${stdout}\n${stderr}`)),
          ),
        timeoutMs,
      );
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });
  return { child, stdout: () => stdout, stderr: () => stderr, exited, waitForOutput };
}

/** Runs the CLI to completion. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return startCli(args, env).exited;
}

/** Kills every CLI child still running (for afterEach) and waits until they are gone. */
export async function killRunningClis(): Promise<void> {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
