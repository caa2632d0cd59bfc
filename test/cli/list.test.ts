import type { Firestore } from '@google-cloud/firestore';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { writeJob } from '../consumer/job-fixtures.ts';
import { cliEnv, killRunningClis, runCli } from './run-cli.ts';
import { type JobRequest, type QueueReason } from '../../src/contract/index.ts';
import { JobQueue } from '../../src/store/job-queue.ts';
import { queueRequest } from '../store/rig.ts';

const projectId = testProjectId('cli-list');
const env = cliEnv(projectId);
let db: Firestore;
const minutesAgo = (m: number): Date => new Date(Date.now() - m * 60_000);

beforeAll(async () => {
  db = testFirestore(projectId);
  await writeJob(db, 'old-done', {
    state: 'succeeded',
    job: 'simulate',
    function: 'simulate',
    taskCount: 3,
    tasks: { running: 0, succeeded: 3, failed: 0 },
    labels: { tenant: 'acme' },
    createdAt: minutesAgo(180),
  });
  await writeJob(db, 'mid-failed', {
    state: 'failed',
    job: 'fan-out',
    taskCount: 2,
    labels: { tenant: 'globex' },
    createdAt: minutesAgo(60),
  });
  await writeJob(db, 'new-running', {
    state: 'running',
    job: 'simulate',
    function: 'simulate',
    taskCount: 4,
    progress: { done: 1, total: 4, ratio: 0.25 },
    labels: { tenant: 'acme' },
    createdAt: minutesAgo(5),
  });
});
afterAll(async () => {
  await db.terminate();
});
afterEach(killRunningClis);

async function listed(args: string[]): Promise<string[]> {
  const { code, stdout, stderr } = await runCli(['list', '--json', ...args], env);
  expect(code, stderr).toBe(0);
  return (JSON.parse(stdout) as { documentId: string }[]).map((j) => j.documentId);
}

describe('jobbridge list', () => {
  it('prints the recent jobs newest first as a table', async () => {
    const { code, stdout } = await runCli(['list'], env);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REQUEST ID\s+JOB\s+FUNCTION\s+STATE\s+TASKS\s+PROGRESS\s+CREATED/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([
      'new-running',
      'mid-failed',
      'old-done',
    ]);
    expect(lines[1]).toMatch(
      /new-running\s+simulate\s+simulate\s+running\s+-\/4\s+25%\s+[56] min ago\s+tenant=acme/,
    );
    expect(lines[3]).toMatch(/old-done\s+simulate\s+simulate\s+succeeded\s+3\/3\s+100%\s+3 h ago/);
  });

  it('filters by --since written as people write it (90m, "2 h")', async () => {
    expect(await listed(['--since', '90m'])).toEqual(['new-running', 'mid-failed']);
    expect(await listed(['--since', '30 min'])).toEqual(['new-running']);
    expect(await listed(['--since', '4h'])).toEqual(['new-running', 'mid-failed', 'old-done']);
  });

  it('filters by --state (repeatable, comma-separated), --job and --label', async () => {
    expect(await listed(['--state', 'failed,succeeded'])).toEqual(['mid-failed', 'old-done']);
    expect(await listed(['--state', 'running', '--state', 'failed'])).toEqual([
      'new-running',
      'mid-failed',
    ]);
    expect(await listed(['--job', 'simulate'])).toEqual(['new-running', 'old-done']);
    expect(await listed(['--label', 'tenant=acme', '--state', 'succeeded'])).toEqual(['old-done']);
  });

  it('stops at --limit', async () => {
    expect(await listed(['--limit', '2'])).toEqual(['new-running', 'mid-failed']);
  });

  it('refuses a bad --state or --since in one line, exit 2', async () => {
    const state = await runCli(['list', '--state', 'finished'], env);
    expect(state.code).toBe(2);
    expect(state.stderr).toMatch(/--state.*"finished" is not a job state/);
    const since = await runCli(['list', '--since', 'yesterday'], env);
    expect(since.code).toBe(2);
    expect(since.stderr).toMatch(/--since.*must be a duration such as 90m/);
  });

  it('says so when nothing matches', async () => {
    const { code, stdout } = await runCli(['list', '--job', 'nothing-here'], env);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe('no jobs');
  });
});

describe('jobbridge list: queued jobs say why they wait', () => {
  const queuedProject = testProjectId('cli-list-queued');
  const queuedEnv = cliEnv(queuedProject);
  let queuedDb: Firestore;
  const reasons: QueueReason[] = ['runjob-rate', 'running-limit', 'concurrency-key'];

  beforeAll(async () => {
    queuedDb = testFirestore(queuedProject);
    const queue = new JobQueue(queuedDb, 'jobs');
    // Admitted the way the bridge admits a request that may not start now, one per reason.
    for (const [i, reason] of reasons.entries()) {
      const requestId = `queued-${reason}`;
      const request: JobRequest = { schemaVersion: 1, requestId, job: 'simulate', taskCount: 2 };
      await queueRequest(queue, request, { now: minutesAgo(10 - i), reason });
    }
    await writeJob(queuedDb, 'not-queued', { state: 'running', job: 'simulate' });
  });
  afterAll(async () => {
    await queuedDb.terminate();
  });

  it('shows each queued job with its reason in the STATE column; others as their state', async () => {
    const { code, stdout, stderr } = await runCli(['list'], queuedEnv);
    expect(code, stderr).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    const row = (id: string) => lines.find((l) => l.startsWith(`${id} `)) ?? '';
    for (const reason of reasons)
      expect(row(`queued-${reason}`)).toMatch(new RegExp(`\\squeued \\(${reason}\\)\\s+-/2\\s`));
    expect(row('not-queued')).toMatch(/\srunning\s+-\/1\s/);
  });

  it('--state queued --json carries queue.reason and queue.queuedAt', async () => {
    const { code, stdout, stderr } = await runCli(
      ['list', '--state', 'queued', '--json'],
      queuedEnv,
    );
    expect(code, stderr).toBe(0);
    const items = JSON.parse(stdout) as {
      job: { requestId: string; queue?: { reason?: string; queuedAt?: string } };
    }[];
    const byId = new Map(items.map((i) => [i.job.requestId, i.job.queue]));
    expect([...byId.keys()].sort()).toEqual(reasons.map((r) => `queued-${r}`).sort());
    for (const reason of reasons) {
      const queue = byId.get(`queued-${reason}`);
      expect(queue?.reason).toBe(reason);
      expect(Number.isNaN(Date.parse(queue?.queuedAt ?? ''))).toBe(false);
    }
  });
});
