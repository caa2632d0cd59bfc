import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** A `node src/cli.ts serve` child: its JSON log lines, its port once listening, its exit. */
export interface ChildBridge {
  child: ChildProcess;
  port: number;
  url: string;
  lines: () => Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills it (SIGKILL) unless it already exited, and waits. */
  kill: () => Promise<void>;
}

const children = new Set<ChildProcess>();

/** Kills every child still running (for afterAll). */
export async function killAllChildren(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const done = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await done;
      }
    }),
  );
}

/** How to start the CLI: the source by default; the bench runs the compiled `dist/` instead. */
export interface CliLaunch {
  /** The CLI entry point (default: src/cli.ts, run through Node's type stripping). */
  cli?: string;
  /** Node flags before the entry point (heap sizes, `--import`, …). */
  nodeArgs?: string[];
}

/** Runs the CLI with exactly `env` (no inherited settings) and no wait for anything. */
export function spawnCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  launch: CliLaunch = {},
): { child: ChildProcess; exited: ChildBridge['exited']; out: () => string; err: () => string } {
  const argv = [...(launch.nodeArgs ?? []), launch.cli ?? CLI, ...args];
  const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, exited, out: () => out, err: () => err };
}

/** Where a child bridge runs: its project, region and allowlisted jobs, and the emulators'. */
export interface ChildBridgeSite {
  projectId: string;
  region: string;
  /** JOBBRIDGE_JOBS: the allowlist, comma-separated. */
  jobs: string;
  firestoreHost: string;
  cloudRunHost: string;
  /** 0 (a free port) unless said. */
  port?: number;
}

/**
 * The env of a `jobbridge serve` on the local emulators: exactly what it needs (no inherited
 * settings), listening on 127.0.0.1, push auth off (the Pub/Sub emulator's push carries no OIDC
 * token), `extra` over it.
 */
export function childBridgeEnv(
  site: ChildBridgeSite,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    GOOGLE_CLOUD_PROJECT: site.projectId,
    JOBBRIDGE_REGION: site.region,
    JOBBRIDGE_JOBS: site.jobs,
    JOBBRIDGE_INSECURE_PUSH: 'true',
    JOBBRIDGE_LISTEN_HOST: '127.0.0.1',
    PORT: String(site.port ?? 0),
    FIRESTORE_EMULATOR_HOST: site.firestoreHost,
    CLOUD_RUN_EMULATOR_HOST: site.cloudRunHost,
    ...extra,
  };
}

/** Starts `jobbridge serve` and resolves once it logged that it listens. */
export async function startChildBridge(
  env: NodeJS.ProcessEnv,
  timeoutMs = 20_000,
  launch: CliLaunch = {},
): Promise<ChildBridge> {
  const { child, exited, out, err } = spawnCli(['serve'], env, launch);
  const lines = () =>
    out()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const deadline = Date.now() + timeoutMs;
  let port: number | undefined;
  while (port === undefined) {
    const listening = lines().find((l) => l.message === 'bridge listening');
    if (listening) port = listening.port as number;
    else if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`jobbridge serve exited before listening:\n${err()}`);
    } else if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`jobbridge serve did not listen within ${timeoutMs} ms:\n${err()}`);
    } else await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    lines,
    stderr: err,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
