import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cancelJob } from '../../src/consumer/index.ts';
import { slicesPerRequest } from '../../bench/lib/slices.ts';
import { jobDocumentId } from '../../src/contract/index.ts';
import { RunBudget, type DrainResult } from '../../src/dispatch/index.ts';
import { envelope, JOB, jobRequest, REGION, startRig, type Rig } from '../bridge/rig.ts';
import { emulatorHosts } from '../harness/google.ts';
import { killRunningClis, runCli, startCli } from './run-cli.ts';

/**
 * `jobbridge reconcile` as an operator runs it (a Cloud Run job on a schedule, or by hand): a
 * process of its own against Firestore and Cloud Run, draining what the bridges queued.
 */
describe('jobbridge reconcile drains the admission queue', () => {
  let rig: Rig;

  beforeAll(async () => {
    // A bridge whose budget never refills (its clock stands still): after its one call, every
    // request it admits is queued, and only the drain of `jobbridge reconcile` can start it.
    rig = await startRig({
      budget: new RunBudget({
        runJobPerMinute: 1,
        runJobBurst: 1,
        maxConcurrentLaunches: 10,
        nowMs: () => 0,
      }),
    });
  });
  afterEach(async () => {
    await killRunningClis();
  });
  afterAll(async () => {
    await rig?.close();
  });

  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GOOGLE_CLOUD_PROJECT: rig.projectId,
    JOBBRIDGE_REGION: REGION,
    FIRESTORE_EMULATOR_HOST: emulatorHosts().firestore,
    CLOUD_RUN_EMULATOR_HOST: rig.emulator.host,
    JOBBRIDGE_RUNJOB_PER_MINUTE: '100000',
    JOBBRIDGE_RUNJOB_BURST: '1000',
    ...extra,
  });
  // The drain may start queued function requests in batches (JOBBRIDGE_BATCH_MAX_REQUESTS): a
  // request runs once when it has exactly one slice, its own execution or a member's.
  const runsOf = async (requestId: string) =>
    (await slicesPerRequest(rig.firestore, await rig.executions())).perRequest.get(requestId) ?? 0;
  const state = async (requestId: string) =>
    (await rig.jobDoc(jobDocumentId(requestId)))?.state as string | undefined;

  /** Pushes `n` requests through the bridge; all but the ones the budget lets through queue. */
  const queueUp = async (n: number): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const request = jobRequest({ function: 'report', args: [`n${i}`] });
      const res = await rig.push(envelope(request));
      expect([201, 200], JSON.stringify(res.body)).toContain(res.status);
      if (res.body.outcome === 'queued') ids.push(request.requestId as string);
    }
    return ids;
  };

  it('two runs at once start every queued request exactly once; a cancelled one never', async () => {
    const queued = await queueUp(9);
    expect(queued).toHaveLength(8);
    for (const id of queued) expect(await state(id)).toBe('queued');
    const cancelled = queued[0] ?? '';
    expect((await cancelJob(rig.firestore, cancelled)).outcome).toBe('requested');

    const args = ['reconcile', '--json', '--drain-for-ms', '20000'];
    const jobs = { JOBBRIDGE_JOBS: JOB, JOBBRIDGE_BATCH_MAX_REQUESTS: '100' };
    const [a, b] = await Promise.all([runCli(args, env(jobs)), runCli(args, env(jobs))]);
    const drains = [a, b].map((run) => {
      expect(run.code, run.stderr).toBe(0);
      const line = run.stdout.split('\n').find((l) => l.startsWith('{"drain"'));
      expect(line, run.stdout).toBeDefined();
      expect(run.stdout).toMatch(/reconciled: \d+ job\(s\) examined; .*drained: \d+ started/);
      return (JSON.parse(line ?? '{}') as { drain: DrainResult }).drain;
    });
    // Between them they started each one once (the loser of a claim counts it `raced`).
    expect(drains.reduce((n, d) => n + d.started, 0)).toBe(queued.length - 1);
    // With batches on, the queued function requests went in batches.
    expect(drains.reduce((n, d) => n + d.batches, 0)).toBeGreaterThan(0);
    // The cancel is ended by one of them: the pass (cancel requested before dispatch) or the drain.
    const cancels = [a, b].map(
      (run) =>
        run.stdout
          .split('\n')
          // The loser of the race prints `"action":"raced"` with the same reason: not an end.
          .filter(
            (l) => l.includes(`"requestId":"${cancelled}"`) && l.includes('"action":"cancelled"'),
          ).length,
    );
    expect(cancels.reduce((n, c) => n + c, 0) + drains.reduce((n, d) => n + d.cancelled, 0)).toBe(
      1,
    );

    expect(await state(cancelled)).toBe('cancelled');
    expect(await runsOf(cancelled)).toBe(0);
    for (const id of queued.slice(1)) {
      expect(await state(id), id).toBe('dispatched');
      expect(await runsOf(id), id).toBe(1);
    }
    const depth = await rig.firestore.collection('jobs').where('state', '==', 'queued').get();
    expect(depth.size).toBe(0);
  });

  it('without JOBBRIDGE_JOBS it refuses to drain and leaves the queue as it was', async () => {
    const queued = await queueUp(2);
    expect(queued).toHaveLength(2);
    const refused = await runCli(['reconcile'], env());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/JOBBRIDGE_JOBS is required to drain the queue/);
    for (const id of queued) expect(await state(id)).toBe('queued');

    // --drain-for-ms 0 runs the pass alone and says that it did not drain.
    const passOnly = await runCli(['reconcile', '--drain-for-ms', '0'], env());
    expect(passOnly.code, passOnly.stderr).toBe(0);
    expect(passOnly.stdout).toMatch(/queue not drained/);
    for (const id of queued) expect(await state(id)).toBe('queued');

    // The same run with the allowlist drains them.
    const run = startCli(['reconcile', '--drain-for-ms', '20000'], env({ JOBBRIDGE_JOBS: JOB }));
    const done = await run.exited;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`drained: ${queued.length} started`));
    for (const id of queued) expect(await runsOf(id)).toBe(1);
  });
});
