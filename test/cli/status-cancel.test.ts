import type { Firestore } from '@google-cloud/firestore';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { jobRef, writeJob, writeTask } from '../consumer/job-fixtures.ts';
import { cliEnv, killRunningClis, runCli } from './run-cli.ts';

const projectId = testProjectId('cli-status');
const env = cliEnv(projectId);
let db: Firestore;

beforeAll(async () => {
  db = testFirestore(projectId);
  await writeJob(db, 'st-1', {
    state: 'running',
    taskCount: 2,
    labels: { tenant: 'acme' },
    progress: { done: 15, total: 20, ratio: 0.75 },
  });
  await writeTask(db, 'st-1', 0, {
    state: 'succeeded',
    progress: { done: 10, total: 10, ratio: 1 },
  });
  await writeTask(db, 'st-1', 1, {
    state: 'running',
    attempt: 1,
    progress: { done: 5, total: 10, ratio: 0.5, message: 'page 5' },
  });
});
afterAll(async () => {
  await db.terminate();
});
afterEach(killRunningClis);

describe('jobbridge status', () => {
  it('prints the job and a row per task as a table', async () => {
    const { code, stdout } = await runCli(['status', 'st-1'], env);
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines).toContain('state       running');
    expect(lines).toContain('tasks       1 running, 1 succeeded, 0 failed of 2');
    expect(lines).toContain('progress    75%');
    expect(lines).toContain('labels      tenant=acme');
    expect(lines).toContain('TASK  STATE      ATTEMPT  PROGRESS  MESSAGE');
    expect(lines).toContain('0     succeeded  0        100%');
    expect(lines).toContain('1     running    1        50%       page 5');
  });

  it('prints JSON for scripts', async () => {
    const { code, stdout } = await runCli(['status', 'st-1', '--json'], env);
    expect(code).toBe(0);
    const parsed = JSON.parse(stdout) as {
      job: { state: string; createdAt: string };
      tasks: { taskIndex: number }[];
    };
    expect(parsed.job.state).toBe('running');
    expect(new Date(parsed.job.createdAt).getTime()).toBeGreaterThan(0);
    expect(parsed.tasks.map((t) => t.taskIndex)).toEqual([0, 1]);
  });

  it('says clearly that a request id does not exist, exit 1', async () => {
    const { code, stdout, stderr } = await runCli(['status', 'no-such-request'], env);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `jobbridge: no job with request id "no-such-request" in collection jobs of project ${projectId}\n`,
    );
  });

  it('exits 2 on bad usage', async () => {
    for (const args of [['status'], ['status', 'a', 'b'], ['status', 'st-1', '--yaml']]) {
      const { code, stderr } = await runCli(args, env);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr.split('\n')[0]).toMatch(
        /^error: (missing required argument|too many arguments|unknown option)/,
      );
    }
  });
});

describe('jobbridge cancel', () => {
  it('sets cancelRequested on a running job, and is idempotent', async () => {
    await writeJob(db, 'ca-1', { state: 'running' });
    const first = await runCli(['cancel', 'ca-1'], env);
    expect(first).toMatchObject({ code: 0, stdout: 'ca-1: cancellation requested\n' });
    expect((await jobRef(db, 'ca-1').get()).get('cancelRequested')).toBe(true);
    const again = await runCli(['cancel', 'ca-1'], env);
    expect(again).toMatchObject({ code: 0, stdout: 'ca-1: cancellation was already requested\n' });
  });

  it('refuses a job that already ended, leaving it unchanged', async () => {
    await writeJob(db, 'ca-2', { state: 'succeeded' });
    const { code, stderr } = await runCli(['cancel', 'ca-2'], env);
    expect(code).toBe(1);
    expect(stderr).toBe('jobbridge: job "ca-2" already ended as succeeded; nothing to cancel\n');
    expect((await jobRef(db, 'ca-2').get()).get('cancelRequested')).toBeUndefined();
  });

  it('refuses a request id that does not exist, creating nothing', async () => {
    const { code, stderr } = await runCli(['cancel', 'ca-missing'], env);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^jobbridge: no job with request id "ca-missing" in collection jobs/);
    expect((await jobRef(db, 'ca-missing').get()).exists).toBe(false);
  });

  it('exits 2 on bad usage', async () => {
    const { code, stderr } = await runCli(['cancel'], env);
    expect(code).toBe(2);
    expect(stderr.split('\n')[0]).toBe("error: missing required argument 'requestId'");
  });
});
