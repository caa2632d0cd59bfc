import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/leaks.ts';
import { loadJobFile, parseJobFile } from '../../src/emulator/index.ts';
import { CloudRunLauncher, createRunClients } from '../../src/launcher/index.ts';
import { until } from './helpers.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/**
 * Runs `jobbridge emulator --port 0 --jobs <dir>/jobs.json ...flags` with `jobs` in that file,
 * hands `use` the host of its ready line and its output so far, and SIGKILLs it after `use` if
 * it still runs.
 */
async function withEmulatorCli(
  dir: string,
  jobs: Record<string, unknown>,
  flags: string[],
  use: (cli: {
    host: string;
    output: () => string;
    child: ChildProcess;
    exited: Promise<number | null>;
  }) => Promise<void>,
): Promise<void> {
  const file = join(dir, 'jobs.json');
  await writeFile(file, JSON.stringify({ jobs }));
  const child = spawn(
    process.execPath,
    [CLI, 'emulator', '--port', '0', '--jobs', file, ...flags],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const host = await until(
      'the ready line',
      () => /Cloud Run Jobs emulator listening on (127\.0\.0\.1:\d+)/.exec(output)?.[1],
    );
    await use({ host, output: () => output, child, exited });
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  }
}

describe('job file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'job-file-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('loads the DESIGN.md format and resolves relative command paths from the file folder', async () => {
    const file = join(dir, 'jobs.json');
    await writeFile(
      file,
      JSON.stringify({
        jobs: {
          screenshot: {
            command: ['node', 'dist/cli.js', '--flag'],
            args: ['work', 'screenshot'],
            env: { LOG_LEVEL: 'info' },
            taskCount: 1,
            parallelism: 0,
            maxRetries: 3,
            timeoutSeconds: 600,
          },
        },
      }),
    );
    const loaded = await loadJobFile(file);
    expect(loaded.baseDir).toBe(dir);
    expect(loaded.jobs.jobs.screenshot?.command).toEqual([
      'node',
      join(dir, 'dist/cli.js'),
      '--flag',
    ]);
    expect(loaded.jobs.jobs.screenshot?.args).toEqual(['work', 'screenshot']);
  });

  it.each([
    [{ jobs: { a: { command: [] } } }, /jobs\.a\.command/],
    [{ jobs: { a: { command: ['x'], taskCount: 10_001 } } }, /jobs\.a\.taskCount/],
    [{ jobs: { a: { command: ['x'], maxRetries: -1 } } }, /jobs\.a\.maxRetries/],
    [{ jobs: { a: { command: ['x'], timeoutSeconds: 0 } } }, /jobs\.a\.timeoutSeconds/],
    [{ jobs: { a: { command: ['x'], env: { 'BAD-NAME': 'v' } } } }, /jobs\.a\.env/],
    [{ jobs: { Bad_Name: { command: ['x'] } } }, /jobs\.Bad_Name.*job name/],
    [{ jobs: { a: { command: ['x'], image: 'nope' } } }, /jobs\.a.*image/],
    [{}, /jobs/],
  ])('refuses %j naming the field', (value, message) => {
    expect(() => parseJobFile(value)).toThrow(message);
  });

  it('says which file is not JSON', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{ not json');
    await expect(loadJobFile(file)).rejects.toThrow(/broken\.json is not JSON/);
  });
});

describe('jobbridge emulator (the CLI)', () => {
  it('prints its ready line, serves the real client, and on SIGTERM kills its tasks and exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'emulator-cli-'));
    try {
      // A relative script: it only runs if the command resolved from the job file's folder.
      await writeFile(
        join(dir, 'sleeper.mjs'),
        "import { writeFileSync } from 'node:fs'; writeFileSync(process.env.PID_FILE, String(process.pid)); setInterval(() => {}, 1000);",
      );
      const jobs = { sleeper: { command: [process.execPath, './sleeper.mjs'] } };
      const grace = ['--kill-grace-ms', '200'];
      await withEmulatorCli(dir, jobs, grace, async ({ host, child, exited }) => {
        const clients = createRunClients({ emulatorHost: host });
        try {
          const launcher = new CloudRunLauncher(clients, {
            project: 'cli-test',
            region: 'us-central1',
          });
          const pidFile = join(dir, 'pid');
          await launcher.launch({ job: 'sleeper', env: { PID_FILE: pidFile } });
          const pid = Number(
            await until('the task to start', async () =>
              existsSync(pidFile) ? readFile(pidFile, 'utf8') : undefined,
            ),
          );
          child.kill('SIGTERM');
          expect(await exited).toBe(0);
          expect(() => process.kill(pid, 0)).toThrow();
        } finally {
          await clients.close();
        }
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('jobbridge emulator --runjob-per-minute / --max-running-executions', () => {
  it('refuses a limit that is not a positive integer, naming the flag', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'emulator', '--jobs', 'unused.json', '--runjob-per-minute', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(output).toContain('--runjob-per-minute must be an integer >= 1');
  });

  it('answers RunJob RESOURCE_EXHAUSTED past the per-minute quota it was started with', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'emulator-quota-'));
    try {
      const jobs = { quick: { command: [process.execPath, '-e', '0'] } };
      const quotas = ['--runjob-per-minute', '2', '--max-running-executions', '5'];
      await withEmulatorCli(dir, jobs, quotas, async ({ host, output, child, exited }) => {
        await until('the quota line', () =>
          output().includes('quotas: 2 RunJob') ? true : undefined,
        );
        const clients = createRunClients({ emulatorHost: host });
        try {
          const name = 'projects/cli-test/locations/us-central1/jobs/quick';
          await clients.jobs.runJob({ name });
          await clients.jobs.runJob({ name });
          await expect(clients.jobs.runJob({ name })).rejects.toMatchObject({
            code: 8,
            details: expect.stringContaining("'Job run requests per minute per region'") as unknown,
          });
        } finally {
          await clients.close();
        }
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
