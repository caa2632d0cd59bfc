import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../src/devstack/google-emulators.ts';
import { READY_LINE } from '../../src/devstack/next-steps.ts';
import { processTree, survivors, type ProcessInfo } from './process-tree.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/**
 * The test run's own emulators must not leak into the stack or the clients. The machine's own
 * node (/usr/bin, older than the project's) comes first on PATH, as on a fresh machine: npm
 * must run everything on the project's Node.js from node_modules/.bin.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `/usr/bin:/bin:${process.env.PATH}` };
  delete env.PUBSUB_EMULATOR_HOST;
  delete env.FIRESTORE_EMULATOR_HOST;
  delete env.GOOGLE_CLOUD_PROJECT;
  delete env.npm_node_execpath;
  delete env.NODE;
  return { ...env, ...extra };
}

/** The lines `jobbridge dev` prints to paste into a second terminal. */
function pasteLines(output: string): string[] {
  const after = output.split('In another terminal:\n')[1] ?? '';
  return after
    .split('\n\n')[0]!
    .split('\n')
    .map((l) => l.trim());
}

interface Spawned {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv, detached = false): Spawned {
  const child = spawn(command, args, {
    cwd: ROOT,
    env,
    detached,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, exited };
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => socket.destroy() ?? resolve(true));
    socket.once('error', () => resolve(false));
  });
}

/** `export A=1 B=2` as printed by `jobbridge dev`. */
function parseExportLine(output: string): Record<string, string> {
  const line = /^\s*export (.+)$/m.exec(output)?.[1];
  if (line === undefined) throw new Error(`no export line in:\n${output}`);
  return Object.fromEntries(line.split(' ').map((pair) => pair.split('=', 2) as [string, string]));
}

let stack: Spawned | undefined;

afterAll(async () => {
  // Only if the test failed midway: the stack's whole group, then whatever it started.
  if (stack && stack.child.exitCode === null && stack.child.pid !== undefined) {
    const tree = processTree(stack.child.pid);
    for (const p of tree) {
      try {
        process.kill(-p.pgid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await stack.exited;
  }
});

describe('npm start (jobbridge dev)', () => {
  it('runs the whole path: publish and watch the fan-out example through the CLI, then Ctrl-C leaves nothing running', async () => {
    const ports = await freePorts(['pubsub', 'firestore', 'run', 'bridge', 'ui']);
    const project = `dev-e2e-${process.pid}`;
    // Its own process group, as a terminal would give it: Ctrl-C is a SIGINT to the whole group.
    stack = start(
      'npm',
      [
        'start',
        '--',
        `--pubsub-port=${ports.pubsub}`,
        `--firestore-port=${ports.firestore}`,
        `--run-port=${ports.run}`,
        `--bridge-port=${ports.bridge}`,
        `--ui-port=${ports.ui}`,
        `--project=${project}`,
        '--reconcile-interval-ms=500',
      ],
      cleanEnv(),
      true,
    );
    const dev = stack;
    await until(
      'the ready line',
      () => {
        if (dev.child.exitCode !== null) throw new Error(`npm start exited:\n${dev.output()}`);
        return dev.output().includes('Ctrl-C stops everything') ? true : undefined;
      },
      90_000,
    );
    expect(dev.output()).toContain(READY_LINE);
    const env = parseExportLine(dev.output());
    expect(env).toMatchObject({
      GOOGLE_CLOUD_PROJECT: project,
      PUBSUB_EMULATOR_HOST: `127.0.0.1:${ports.pubsub}`,
      FIRESTORE_EMULATOR_HOST: `127.0.0.1:${ports.firestore}`,
    });

    // The second terminal, as printed: the export line, publish, then watch, in a shell whose
    // first node is the machine's own.
    const [exportCmd, publishCmd, watchCmd] = pasteLines(dev.output());
    expect(publishCmd).toMatch(/^R=\$\(npx jobbridge publish --job fan-out /);
    expect(watchCmd).toBe('npx jobbridge watch "$R"');
    const inputs = ['package.json', 'tsconfig.json', 'eslint.config.js', 'vitest.config.ts'].map(
      (f) => `${ROOT}${f}`,
    );
    const terminal = start(
      'sh',
      ['-ec', `${exportCmd}\n${publishCmd}\necho "request $R"\n${watchCmd} --timeout 60`],
      cleanEnv(),
    );
    expect((await terminal.exited).code, terminal.output()).toBe(0);
    const requestId = /^request (\S+)$/m.exec(terminal.output())?.[1] ?? '';
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(terminal.output()).toMatch(/succeeded, tasks: 0 running, 4 succeeded, 0 failed of 4/);

    const status = start(process.execPath, [CLI, 'status', requestId, '--json'], cleanEnv(env));
    expect((await status.exited).code).toBe(0);
    const shown = JSON.parse(status.output()) as {
      job: { state: string };
      tasks: { result?: { items?: { input: string; sha256: string }[] } }[];
    };
    expect(shown.job.state).toBe('succeeded');
    const hashed = shown.tasks.flatMap((t) => t.result?.items ?? []).map((i) => i.input);
    expect(hashed.sort()).toEqual([...inputs].sort());

    // The dashboard is on the ready screen, and lists the job.
    const dashboard = `http://127.0.0.1:${ports.ui}`;
    expect(dev.output()).toContain(`dashboard                ${dashboard}/`);
    const jobsPage = await (await fetch(`${dashboard}/`)).text();
    expect(jobsPage).toContain(`data-request-id="${requestId}" data-state="succeeded"`);
    // Each task's output, from the Cloud Run Jobs emulator's logUri.
    const jobPage = await (await fetch(`${dashboard}/jobs/${requestId}`)).text();
    expect(jobPage).toContain(`href="/jobs/${requestId}/tasks/3/log"`);
    const taskLog = await fetch(`${dashboard}/jobs/${requestId}/tasks/3/log`);
    expect(taskLog.status).toBe(200);
    expect(await taskLog.text()).toMatch(/attempt succeeded/);
    expect((await fetch(`${dashboard}/jobs/${requestId}/tasks/4/log`)).status).toBe(404);

    // The reconcile loop runs against the bridge, as Cloud Scheduler would in production.
    await until(
      'a reconcile pass in the bridge log',
      () => (/\[bridge\] info reconcile pass/.test(dev.output()) ? true : undefined),
      10_000,
    );
    expect(dev.output()).toContain('push → bridge /pubsub/dead-letter');

    // Everything the stack started, whatever group it leads: npm, node, gcloud, java, the bridge.
    const pid = dev.child.pid ?? 0;
    const tree: ProcessInfo[] = processTree(pid);
    expect(tree.filter((p) => /\bjava\b/.test(p.cmdline))).toHaveLength(2);
    const serve = tree.find((p) => p.cmdline.includes(' serve'));
    expect(serve).toBeDefined();
    // The bridge runs on the project's Node.js, not on the machine's node found first on PATH.
    expect(realpathSync(`/proc/${serve?.pid}/exe`)).toBe(
      realpathSync(join(ROOT, 'node_modules/.bin/node')),
    );

    process.kill(-pid, 'SIGINT');
    const { code, signal } = await dev.exited;
    expect(dev.output()).toContain('jobbridge dev: stopped');
    // npm re-raises the SIGINT on itself once its script has ended; either is a clean Ctrl-C.
    expect(code === 0 || signal === 'SIGINT', `npm exited ${code} ${signal}`).toBe(true);
    const left = await until(
      'every process of the stack to be gone',
      () => (survivors(tree).length === 0 ? [] : undefined),
      15_000,
    ).catch(() => survivors(tree));
    expect(left.map((p) => `${p.pid} ${p.cmdline}`)).toEqual([]);
    for (const port of Object.values(ports)) expect(await portAnswers(port)).toBe(false);
  }, 240_000);
});
