import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/leaks.ts';
import { codeOf, FIXTURES, NODE, run, startRig, waitDone, type Rig } from './helpers.ts';

describe('Cloud Run Jobs emulator: jobs, bad requests and faults, through the real clients', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({
      jobs: {
        jobs: {
          report: {
            command: [NODE, `${FIXTURES}record-env.ts`],
            args: ['a'],
            env: { JOB_MODE: 'fast' },
            taskCount: 3,
            parallelism: 2,
            maxRetries: 1,
            timeoutSeconds: 120,
          },
          other: { command: [NODE, '-e', ''] },
        },
      },
    });
  });
  afterAll(async () => rig.close());

  it('GetJob returns the job file entry as a Cloud Run Job, in any project and location', async () => {
    const [job] = await rig.jobs.getJob({ name: rig.jobName('report') });
    expect(job.name).toBe(rig.jobName('report'));
    expect(job.template?.taskCount).toBe(3);
    expect(job.template?.parallelism).toBe(2);
    expect(job.template?.template?.maxRetries).toBe(1);
    expect(Number(job.template?.template?.timeout?.seconds)).toBe(120);
    const container = job.template?.template?.containers?.[0];
    expect(container?.args).toEqual(['a']);
    expect(container?.env).toEqual([expect.objectContaining({ name: 'JOB_MODE', value: 'fast' })]);
    const [elsewhere] = await rig.jobs.getJob({
      name: 'projects/another-project/locations/us-central1/jobs/other',
    });
    expect(elsewhere.name).toBe('projects/another-project/locations/us-central1/jobs/other');
  });

  it('ListJobs lists every job of the file', async () => {
    const [jobs] = await rig.jobs.listJobs({
      parent: `projects/${rig.project}/locations/${rig.location}`,
    });
    expect(jobs.map((j) => j.name).sort()).toEqual([rig.jobName('other'), rig.jobName('report')]);
  });

  it.each([
    ['an unknown job', () => rig.jobs.runJob({ name: rig.jobName('missing') }), status.NOT_FOUND],
    [
      'GetJob of an unknown job',
      () => rig.jobs.getJob({ name: rig.jobName('missing') }),
      status.NOT_FOUND,
    ],
    [
      'a malformed job name',
      () => rig.jobs.runJob({ name: `projects/${rig.project}/jobs/report` }),
      status.INVALID_ARGUMENT,
    ],
    [
      'taskCount above 10000',
      () => rig.jobs.runJob({ name: rig.jobName('report'), overrides: { taskCount: 10_001 } }),
      status.INVALID_ARGUMENT,
    ],
    [
      'a negative taskCount',
      () => rig.jobs.runJob({ name: rig.jobName('report'), overrides: { taskCount: -1 } }),
      status.INVALID_ARGUMENT,
    ],
    [
      'a negative timeout',
      () =>
        rig.jobs.runJob({ name: rig.jobName('report'), overrides: { timeout: { seconds: -5 } } }),
      status.INVALID_ARGUMENT,
    ],
    [
      'a timeout above 168 h',
      () =>
        rig.jobs.runJob({
          name: rig.jobName('report'),
          overrides: { timeout: { seconds: 168 * 3600 + 1 } },
        }),
      status.INVALID_ARGUMENT,
    ],
    [
      'args with clearArgs',
      () =>
        rig.jobs.runJob({
          name: rig.jobName('report'),
          overrides: { containerOverrides: [{ args: ['x'], clearArgs: true }] },
        }),
      status.INVALID_ARGUMENT,
    ],
    [
      'an unknown execution',
      () =>
        rig.executions.getExecution({ name: `${rig.jobName('report')}/executions/report-zzzzz` }),
      status.NOT_FOUND,
    ],
    [
      'a malformed execution name',
      () => rig.executions.getExecution({ name: `${rig.jobName('report')}/report-zzzzz` }),
      status.INVALID_ARGUMENT,
    ],
    [
      'cancelling an unknown execution',
      () =>
        rig.executions.cancelExecution({
          name: `${rig.jobName('report')}/executions/report-zzzzz`,
        }),
      status.NOT_FOUND,
    ],
  ])(
    'answers %s with the status Cloud Run gives, and keeps serving',
    async (_what, call, expected) => {
      expect(await codeOf(call())).toBe(expected);
      const { execution } = await run(rig, 'other');
      expect((await waitDone(rig, execution)).succeededCount).toBe(1);
    },
  );

  it('fault injection answers RunJob UNAVAILABLE or RESOURCE_EXHAUSTED at the configured rate, and starts nothing', async () => {
    const parent = rig.jobName('other');
    const before = (await rig.executions.listExecutions({ parent }))[0].length;
    rig.emulator.setFaults({ runJobUnavailableRate: 1 });
    expect(await codeOf(rig.jobs.runJob({ name: parent }))).toBe(status.UNAVAILABLE);
    rig.emulator.setFaults({ runJobResourceExhaustedRate: 1 });
    expect(await codeOf(rig.jobs.runJob({ name: parent }))).toBe(status.RESOURCE_EXHAUSTED);
    expect((await rig.executions.listExecutions({ parent }))[0].length).toBe(before);
    // Other RPCs are not affected by RunJob faults.
    expect((await rig.jobs.getJob({ name: parent }))[0].name).toBe(parent);

    // A fraction in between fails some calls and lets the others through.
    rig.emulator.setFaults({ runJobUnavailableRate: 0.5 });
    const codes = await Promise.all(
      Array.from({ length: 40 }, () => codeOf(rig.jobs.runJob({ name: parent }))),
    );
    const unavailable: number = status.UNAVAILABLE;
    const failed = codes.filter((c) => c === unavailable).length;
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThan(40);
    expect(codes.every((c) => c === undefined || c === unavailable)).toBe(true);

    rig.emulator.setFaults({ runJobLatencyMs: 300 });
    const started = Date.now();
    await run(rig, 'other');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    rig.emulator.setFaults({});
    const [executions] = await rig.executions.listExecutions({ parent });
    await Promise.all(executions.map((e) => waitDone(rig, e.name ?? '')));
  });
});
