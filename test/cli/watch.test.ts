import type { Firestore } from '@google-cloud/firestore';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { jobRef, writeJob, writeTask } from '../consumer/job-fixtures.ts';
import { cliEnv, killRunningClis, runCli, startCli } from './run-cli.ts';

const projectId = testProjectId('cli-watch');
const env = cliEnv(projectId);
let db: Firestore;

beforeAll(() => {
  db = testFirestore(projectId);
});
afterAll(async () => {
  await db.terminate();
});
afterEach(killRunningClis);

const ESC = String.fromCharCode(27);
const progress = (done: number, message?: string) => ({
  done,
  total: 10,
  ratio: done / 10,
  ...(message && { message }),
});

describe('jobbridge watch', () => {
  it('prints plain lines into a pipe and exits 0 when the job succeeded', async () => {
    await writeJob(db, 'w-pipe', { state: 'dispatched', taskCount: 2 });
    const cli = startCli(['watch', 'w-pipe'], env);
    await cli.waitForOutput(
      'job w-pipe dispatched, tasks: 0 running, 0 succeeded, 0 failed of 2\n',
    );
    await jobRef(db, 'w-pipe').update({ state: 'running' });
    await writeTask(db, 'w-pipe', 0, { progress: progress(3, 'page 3') });
    await cli.waitForOutput('task 0 running attempt 0 30% (3/10) page 3\n');
    await writeTask(db, 'w-pipe', 1, {
      state: 'failed',
      willRetry: true,
      error: { code: 'EXIT_1', message: 'flaky' },
    });
    await cli.waitForOutput('task 1 failed (will retry) attempt 0 0% (0/10) EXIT_1: flaky\n');
    await writeTask(db, 'w-pipe', 1, { attempt: 1, state: 'succeeded', progress: progress(10) });
    await writeTask(db, 'w-pipe', 0, { state: 'succeeded', progress: progress(10) });
    await jobRef(db, 'w-pipe').update({ state: 'succeeded' });
    const { code, stdout } = await cli.exited;
    expect(code).toBe(0);
    expect(stdout).not.toContain(ESC);
    expect(stdout).toContain('task 1 succeeded attempt 1 100% (10/10)\n');
    expect(stdout.trimEnd().split('\n').at(-1)).toBe(
      'job w-pipe succeeded, tasks: 0 running, 2 succeeded, 0 failed of 2',
    );
  });

  it('draws live progress bars in a terminal', async () => {
    // The job does not exist yet when the watch starts, as right after `jobbridge publish`.
    const cli = startCli(['watch', 'w-tty'], env, { tty: true });
    await writeJob(db, 'w-tty', { state: 'running', taskCount: 2 });
    await writeTask(db, 'w-tty', 0, { progress: progress(5, 'halfway') });
    await cli.waitForOutput(/task 0 █+░+ {2}50% {2}running {2}attempt 0 {2}halfway/);
    await writeTask(db, 'w-tty', 1, { progress: progress(2) });
    await cli.waitForOutput(/task 1 █+░+ {2}20% {2}running/);
    await writeTask(db, 'w-tty', 0, { state: 'succeeded', progress: progress(10) });
    await writeTask(db, 'w-tty', 1, { state: 'succeeded', progress: progress(10) });
    await jobRef(db, 'w-tty').update({ state: 'succeeded' });
    const { code, stdout } = await cli.exited;
    expect(code).toBe(0);
    // Redrawn in place: cursor up to the block's start and clear below, between frames.
    expect(stdout).toMatch(new RegExp(`${ESC}\\[\\d+F${ESC}\\[J`));
    const lastFrame = stdout.slice(stdout.lastIndexOf('\x1b[J'));
    expect(lastFrame).toContain(
      'w-tty  fanout  succeeded  tasks: 0 running, 2 succeeded, 0 failed of 2',
    );
    expect(lastFrame).toMatch(/ all {4}█{30} 100%/);
    expect(lastFrame).toMatch(/task 1 █+ 100% {2}succeeded/);
  });

  it('exits 3 when the job failed and 4 when it was cancelled, showing the error', async () => {
    await writeJob(db, 'w-failed', {
      state: 'failed',
      error: { code: 'EXIT_2', message: 'bad input' },
    });
    await writeJob(db, 'w-cancelled', { state: 'cancelled' });
    const failed = await runCli(['watch', 'w-failed'], env);
    expect(failed.code).toBe(3);
    expect(failed.stdout).toContain('job w-failed error EXIT_2: bad input\n');
    const cancelled = await runCli(['watch', 'w-cancelled'], env);
    expect(cancelled.code).toBe(4);
    expect(cancelled.stdout).toContain('job w-cancelled cancelled');
  });

  it('says clearly that a request id does not exist, exit 1', async () => {
    const { code, stderr } = await runCli(['watch', 'w-missing', '--appear-timeout', '1'], env);
    expect(code).toBe(1);
    expect(stderr).toBe(
      `jobbridge: no job with request id "w-missing" in collection jobs of project ${projectId}\n`,
    );
  });

  it('exits 2 on bad usage', async () => {
    const cases: [string[], RegExp][] = [
      [['watch'], /missing required argument 'requestId'/],
      [
        ['watch', 'x', '--appear-timeout', '0'],
        /--appear-timeout <seconds>' argument '0' is invalid\. must be more than 0/,
      ],
      [['watch', 'x', '--follow'], /unknown option '--follow'/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await runCli(args, env);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr.split('\n')[0]).toMatch(message);
    }
  });
});
