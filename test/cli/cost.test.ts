import type { Firestore } from '@google-cloud/firestore';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatDollars, scenarioCost, TIER1_PRICES } from '../../src/cost/pricing.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { writeJob, writeTask } from '../consumer/job-fixtures.ts';
import { cliEnv, killRunningClis, runCli } from './run-cli.ts';

const projectId = testProjectId('cli-cost');
const env = cliEnv(projectId);
const SEED = [
  'cost',
  '--vcpu',
  '2',
  '--memory-gib',
  '4',
  '--seconds',
  '60',
  '--runs-per-day',
  '50',
  '--days',
  '30',
];

afterEach(killRunningClis);

describe('cost arithmetic', () => {
  it("reproduces the seed's example exactly", () => {
    const cost = scenarioCost({
      vcpu: 2,
      memoryGib: 4,
      seconds: 60,
      runsPerDay: 50,
      days: 30,
      users: 1,
      ...TIER1_PRICES,
    });
    expect(cost).toMatchObject({ vcpuCost: 3.888, memoryCost: 0.864, total: 4.752 });
    expect([formatDollars(0.1), formatDollars(0.000216), formatDollars(475.2)]).toEqual([
      '$0.10',
      '$0.000216',
      '$475.20',
    ]);
  });
});

describe('jobbridge cost', () => {
  it("prints the seed's figures to the cent: $3.888 + $0.864 = $4.752 per user", async () => {
    const { code, stdout } = await runCli(SEED, env);
    expect(code).toBe(0);
    expect(stdout).toMatch(/vCPU:\s+\$3\.888 /);
    expect(stdout).toMatch(/memory:\s+\$0\.864 /);
    expect(stdout).toMatch(/total:\s+\$4\.752 for 30 days per user/);
  });

  it('prints JSON with vcpuCost, memoryCost and total, scaled by users and with given prices', async () => {
    const seed = await runCli([...SEED, '--json'], env);
    expect(JSON.parse(seed.stdout)).toMatchObject({
      vcpuCost: 3.888,
      memoryCost: 0.864,
      total: 4.752,
    });
    const custom = await runCli(
      [
        ...SEED,
        '--users',
        '100',
        '--vcpu-second-price',
        '0.00001800',
        '--gib-second-price',
        '0.000002',
        '--json',
      ],
      env,
    );
    // 100 users × 180,000 vCPU-s × $0.000018 and 100 × 360,000 GiB-s × $0.000002.
    expect(JSON.parse(custom.stdout)).toMatchObject({
      vcpuCost: 324,
      memoryCost: 72,
      total: 396,
      users: 100,
    });
  });

  it('exits 2 with one clear line on bad usage', async () => {
    const cases: [string[], RegExp][] = [
      [['cost', '--vcpu', '2'], /give --seconds and --runs-per-day/],
      [
        ['cost', '--vcpu', 'two', '--seconds', '1', '--runs-per-day', '1'],
        /--vcpu <n>' argument 'two' is invalid\. must be a number/,
      ],
      [
        ['cost', '--from-firestore', '--since', 'a month'],
        /--since <duration>' argument 'a month' is invalid/,
      ],
      [['cost', '--from-firestore', '--seconds', '60'], /drop --seconds and --runs-per-day/],
      [['cost', '--cpus', '2'], /unknown option '--cpus'/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr, stdout } = await runCli(args, env);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr.split('\n')[0]).toMatch(message);
      expect(stdout).toBe('');
    }
  });

  describe('--from-firestore', () => {
    let db: Firestore;
    const ago = (seconds: number): Date => new Date(Date.now() - seconds * 1000);
    beforeAll(async () => {
      db = testFirestore(projectId);
      // Two tasks of 30 s and 60 s: billed 90 task-seconds.
      await writeJob(db, 'c-tasks', {
        state: 'succeeded',
        taskCount: 2,
        startedAt: ago(200),
        finishedAt: ago(100),
      });
      await writeTask(db, 'c-tasks', 0, {
        state: 'succeeded',
        startedAt: ago(200),
        finishedAt: ago(170),
      });
      await writeTask(db, 'c-tasks', 1, {
        state: 'succeeded',
        startedAt: ago(200),
        finishedAt: ago(140),
      });
      // No task documents: the job's own 90 s.
      await writeJob(db, 'c-job', { state: 'failed', startedAt: ago(400), finishedAt: ago(310) });
      // Outside the window, still running, and never started: not counted.
      await writeJob(db, 'c-old', {
        state: 'succeeded',
        startedAt: ago(40 * 86400 + 60),
        finishedAt: ago(40 * 86400),
      });
      await writeJob(db, 'c-running', { state: 'running', startedAt: ago(100) });
      await writeJob(db, 'c-unstarted', { state: 'cancelled', finishedAt: ago(50) });
    });
    afterAll(async () => {
      await db.terminate();
    });

    it('prices the recorded durations of finished jobs in the window', async () => {
      const { code, stdout } = await runCli(
        [
          'cost',
          '--vcpu',
          '2',
          '--memory-gib',
          '4',
          '--from-firestore',
          '--since',
          '30d',
          '--json',
        ],
        env,
      );
      expect(code).toBe(0);
      // 180 task-seconds × 2 vCPU × $0.0000216 = $0.007776; × 4 GiB × $0.0000024 = $0.001728.
      expect(JSON.parse(stdout)).toMatchObject({
        runs: 2,
        skipped: 1,
        taskSeconds: 180,
        vcpuCost: 0.007776,
        memoryCost: 0.001728,
        total: 0.009504,
      });
      const text = await runCli(
        ['cost', '--vcpu', '2', '--memory-gib', '4', '--from-firestore', '--since', '30d'],
        env,
      );
      expect(text.stdout).toMatch(/2 finished jobs in the last 30 d /);
      expect(text.stdout).toMatch(/total:\s+\$0\.009504 over the last 30 d$/m);
    });

    it.each([
      ['1h', 'in the last 1 h '],
      ['90m', 'in the last 1 h 30 min '],
      ['1 h 30 min', 'in the last 1 h 30 min '],
    ])('reads --since %s and says the window as people write it', async (since, said) => {
      const { code, stdout, stderr } = await runCli(
        ['cost', '--vcpu', '1', '--memory-gib', '1', '--from-firestore', '--since', since],
        env,
      );
      expect(code, stderr).toBe(0);
      expect(stdout).toContain(said);
    });

    it('refuses a --since that is not a duration, naming the flag', async () => {
      const { code, stderr } = await runCli(
        ['cost', '--vcpu', '1', '--memory-gib', '1', '--from-firestore', '--since', '8 parsecs'],
        env,
      );
      expect(code).toBe(2);
      expect(stderr).toMatch(/--since.*must be a duration such as 90m/);
    });
  });
});

describe('jobbridge cost --from-firestore over a batch', () => {
  const batchProject = testProjectId('cli-cost-batch');
  let db: Firestore;
  const ago = (seconds: number): Date => new Date(Date.now() - seconds * 1000);
  beforeAll(async () => {
    db = testFirestore(batchProject);
    // Two members of one batch's execution: each job spans the whole execution (100 s), but
    // Cloud Run bills each task for its own time: 30 s for one, 10 s + 20 s for the other.
    const dispatch = {
      leaseOwner: null,
      leaseExpiresAt: null,
      attempts: 1,
      batchId: 'batch-1',
      executionName: 'projects/p/locations/l/jobs/fanout/executions/fanout-b1',
    };
    const members: [string, number, number[]][] = [
      ['m-one', 0, [30]],
      ['m-two', 1, [10, 20]],
    ];
    for (const [id, taskOffset, durations] of members) {
      await writeJob(db, id, {
        state: 'succeeded',
        taskCount: durations.length,
        startedAt: ago(200),
        finishedAt: ago(100),
        dispatch: { ...dispatch, taskOffset },
      });
      for (const [i, d] of durations.entries())
        await writeTask(db, id, i, {
          state: 'succeeded',
          startedAt: ago(200),
          finishedAt: ago(200 - d),
        });
    }
  });
  afterAll(async () => {
    await db.terminate();
  });

  it('counts each member as a finished job with its own tasks’ time, not the shared execution', async () => {
    const { code, stdout, stderr } = await runCli(
      ['cost', '--vcpu', '1', '--memory-gib', '1', '--from-firestore', '--since', '1d', '--json'],
      cliEnv(batchProject),
    );
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ runs: 2, skipped: 0, taskSeconds: 60 });
  });
});
