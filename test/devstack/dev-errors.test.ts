import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/devstack/google-emulators.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

function runDev(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'dev', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const FREE = [
  '--pubsub-port=0',
  '--firestore-port=0',
  '--run-port=0',
  '--bridge-port=0',
  '--ui-port=0',
];

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function occupyPort(): Promise<number> {
  const s = createServer();
  server = s;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const address = s.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return address.port;
}

describe('jobbridge dev refuses to start, in one line', () => {
  for (const flag of ['--pubsub-port', '--firestore-port', '--run-port', '--bridge-port']) {
    it(`when ${flag} is taken`, async () => {
      const port = await occupyPort();
      const { code, stdout, stderr } = await runDev([...FREE, `${flag}=${port}`]);
      expect(code).toBe(1);
      expect(stderr.trimEnd().split('\n')).toEqual([
        `jobbridge dev: ${flag} ${port}: port ${port} on 127.0.0.1 is already in use ` +
          `(for the ${{ '--pubsub-port': 'Pub/Sub emulator', '--firestore-port': 'Firestore emulator', '--run-port': 'Cloud Run Jobs emulator', '--bridge-port': 'bridge' }[flag]}); ` +
          `stop what uses it or pick another with ${flag}`,
      ]);
      expect(stdout).toBe('');
    });
  }

  it('when two parts are given the same port', async () => {
    const port = await freePort();
    const { code, stderr } = await runDev([...FREE, `--run-port=${port}`, `--bridge-port=${port}`]);
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toEqual([
      `jobbridge dev: --bridge-port ${port}: the same port is already given to --run-port`,
    ]);
  });

  it('when gcloud is not installed', async () => {
    // A PATH with a shell and nothing else: no gcloud, no java.
    const bin = await mkdtemp(join(tmpdir(), 'jobbridge-no-gcloud-'));
    await symlink('/bin/sh', join(bin, 'sh'));
    const { code, stdout, stderr } = await runDev(FREE, { PATH: bin, HOME: process.env.HOME });
    await rm(bin, { recursive: true });
    expect(code).toBe(1);
    const lines = stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^jobbridge dev: gcloud is not on PATH: install the emulators with/);
    expect(stdout).toBe('');
  });

  it('when the job file is invalid, naming the field', async () => {
    const { code, stderr } = await runDev([...FREE, `--jobs=${CLI}`]);
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^jobbridge dev: job file .*cli\.ts is not JSON: /),
    ]);
  });

  it('with a usage error for a bad port (exit 2)', async () => {
    const { code, stderr } = await runDev(['--bridge-port=http']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--bridge-port/);
  });
});
