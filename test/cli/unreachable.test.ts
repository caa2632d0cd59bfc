import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/devstack/google-emulators.ts';
import { cliEnv, killRunningClis, runCli } from './run-cli.ts';

afterEach(killRunningClis);

/** A port nothing listens on: taken free, then left closed. */
async function closedPort(): Promise<number> {
  const port = await freePort();
  // Make sure it is closed now (freePort releases it again).
  await new Promise<void>((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
  return port;
}

describe('a client command whose backend is not running', () => {
  it.each([
    [
      'publish',
      ['publish', '--job', 'simulate', '--function', 'simulate'],
      'Pub/Sub',
      'PUBSUB_EMULATOR_HOST',
    ],
    ['status', ['status', 'some-request'], 'Firestore', 'FIRESTORE_EMULATOR_HOST'],
    ['list', ['list'], 'Firestore', 'FIRESTORE_EMULATOR_HOST'],
    ['cancel', ['cancel', 'some-request'], 'Firestore', 'FIRESTORE_EMULATOR_HOST'],
  ])(
    '%s says so in one line within 10 s, naming the host and what to start',
    async (_name, args, backend, envName) => {
      const port = await closedPort();
      const env = cliEnv('unreachable', { [envName]: `127.0.0.1:${port}` });
      const started = Date.now();
      const { code, stdout, stderr } = await runCli(args, env);
      const elapsed = Date.now() - started;
      expect(code).toBe(1);
      expect(stdout).toBe('');
      const lines = stderr.trimEnd().split('\n');
      expect(lines, stderr).toHaveLength(1);
      expect(lines[0]).toContain(
        `cannot reach ${backend} at 127.0.0.1:${port} (connection refused)`,
      );
      expect(lines[0]).toContain('npm start');
      expect(lines[0]).toContain(envName);
      // The point of the check: not the client library's minute of retries.
      expect(elapsed).toBeLessThan(10_000);
    },
  );
});
