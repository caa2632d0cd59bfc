import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLOUD_RUN_DEFAULT_QUOTAS } from '../../src/emulator/index.ts';
import '../harness/leaks.ts';
import { FIXTURES, NODE, run, startRig, waitDone, type Rig } from './helpers.ts';

/** The rejection of a call, as the real client raised it. */
async function rejection(promise: Promise<unknown>): Promise<{ code?: number; details?: string }> {
  try {
    await promise;
  } catch (err: unknown) {
    return err as { code?: number; details?: string };
  }
  throw new Error('the call was expected to be refused');
}

describe("Cloud Run Jobs emulator: Cloud Run's RunJob quotas, through the real clients", () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({
      jobs: {
        jobs: {
          quick: { command: [NODE, '-e', ''] },
          hold: { command: [NODE, `${FIXTURES}block.ts`] },
        },
      },
    });
  });
  afterEach(() => {
    vi.useRealTimers();
    rig.emulator.setQuotas({});
  });
  afterAll(async () => rig.close());

  it('are off unless asked for, and the defaults are Cloud Run’s', async () => {
    const operations = await Promise.all(
      Array.from({ length: 12 }, () => rig.jobs.runJob({ name: rig.jobName('quick') })),
    );
    expect(operations).toHaveLength(12);
    expect(CLOUD_RUN_DEFAULT_QUOTAS).toEqual({ runJobPerMinute: 180, maxRunningExecutions: 1000 });
  });

  it('--runjob-per-minute: past N RunJob calls in 60 s, RESOURCE_EXHAUSTED with the quota named, nothing started, per project and region', async () => {
    // Only Date is faked: the window is measured on the clock, the calls still run for real.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    rig.emulator.setQuotas({ runJobPerMinute: 3 });
    // A region of its own: the calls of the test above count in theirs.
    const name = rig.jobName('quick').replace(rig.location, 'us-east1');
    const started = async (): Promise<number> =>
      (await rig.executions.listExecutions({ parent: name }))[0].length;
    for (let i = 0; i < 3; i++) await rig.jobs.runJob({ name });
    const refused = await rejection(rig.jobs.runJob({ name }));
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toContain(
      "Quota exceeded for quota metric 'Job run requests' and limit 'Job run requests per minute per region' of service 'run.googleapis.com'",
    );
    expect(await started()).toBe(3);
    // A refused call is not counted: still refused 59 s after the first three, not after 61 s.
    vi.setSystemTime(Date.now() + 59_000);
    expect((await rejection(rig.jobs.runJob({ name }))).code).toBe(status.RESOURCE_EXHAUSTED);
    // Another region of the same project has its own quota.
    const elsewhere = name.replace('us-east1', 'europe-west1');
    const [other] = await rig.jobs.runJob({ name: elsewhere });
    expect(other.name).toContain('/locations/europe-west1/');
    vi.setSystemTime(Date.now() + 2_000);
    await rig.jobs.runJob({ name });
    expect(await started()).toBe(4);
    // Other RPCs are not limited.
    expect((await rig.jobs.getJob({ name: rig.jobName('quick') }))[0].name).toBe(
      rig.jobName('quick'),
    );
  });

  it('--max-running-executions: with M executions running, RESOURCE_EXHAUSTED until one ends', async () => {
    const release = join(rig.dir, 'release-quota');
    const overrides = { containerOverrides: [{ env: [{ name: 'RELEASE_FILE', value: release }] }] };
    // Let the earlier tests' executions end, so that only this test's count as running.
    const [earlier] = await rig.executions.listExecutions({ parent: rig.jobName('quick') });
    await Promise.all(earlier.map((e) => waitDone(rig, e.name ?? '')));
    rig.emulator.setQuotas({ maxRunningExecutions: 2 });
    const first = await run(rig, 'hold', overrides);
    await run(rig, 'hold', overrides);
    const refused = await rejection(rig.jobs.runJob({ name: rig.jobName('quick') }));
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toContain('running job executions');
    expect(refused.details).toContain('2 of 2');
    await rig.executions.cancelExecution({ name: first.execution });
    await waitDone(rig, first.execution);
    const { execution } = await run(rig, 'quick');
    expect((await waitDone(rig, execution)).succeededCount).toBe(1);
    await writeFile(release, '');
  });
});
