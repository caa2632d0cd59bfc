import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/leaks.ts';
import { envOf, FIXTURES, NODE, recorded, run, startRig, waitDone, type Rig } from './helpers.ts';

describe('RunJob overrides, as Cloud Run documents them', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({
      jobs: {
        jobs: {
          report: {
            command: [NODE, `${FIXTURES}record-env.ts`],
            args: ['default-1', 'default-2'],
            env: { JOB_MODE: 'fast', JOB_KEEP: 'kept' },
            taskCount: 2,
            timeoutSeconds: 120,
          },
        },
      },
      taskEnv: { TASK_ENV: 'from-options' },
    });
  });
  afterAll(async () => rig.close());

  async function runAndRecord(overrides?: Parameters<typeof run>[2]) {
    const { execution } = await run(rig, 'report', overrides);
    const done = await waitDone(rig, execution);
    return { done, seen: await recorded(rig, execution) };
  }

  it('without overrides the tasks get the job args and env, plus options.taskEnv', async () => {
    const { done, seen } = await runAndRecord();
    expect(done.taskCount).toBe(2);
    expect(seen.get('0-0')?.argv).toEqual(['default-1', 'default-2']);
    expect(seen.get('0-0')?.env).toMatchObject({
      JOB_MODE: 'fast',
      JOB_KEEP: 'kept',
      TASK_ENV: 'from-options',
    });
    expect(done.template?.containers?.[0]?.args).toEqual(['default-1', 'default-2']);
  });

  it('args replace the job args', async () => {
    const { done, seen } = await runAndRecord({ containerOverrides: [{ args: ['x', 'y z'] }] });
    expect(seen.get('0-0')?.argv).toEqual(['x', 'y z']);
    expect(seen.get('1-0')?.argv).toEqual(['x', 'y z']);
    expect(done.template?.containers?.[0]?.args).toEqual(['x', 'y z']);
  });

  it('clearArgs empties the args', async () => {
    const { done, seen } = await runAndRecord({ containerOverrides: [{ clearArgs: true }] });
    expect(seen.get('0-0')?.argv).toEqual([]);
    expect(done.template?.containers?.[0]?.args).toEqual([]);
  });

  it('env merges over the job env: overridden names win, the others stay, new ones are added', async () => {
    const { done, seen } = await runAndRecord({
      containerOverrides: [
        {
          env: [
            { name: 'JOB_MODE', value: 'slow' },
            { name: 'OVR_NEW', value: 'added' },
          ],
        },
      ],
    });
    expect(seen.get('0-0')?.env).toMatchObject({
      JOB_MODE: 'slow',
      JOB_KEEP: 'kept',
      OVR_NEW: 'added',
    });
    expect(seen.get('0-0')?.argv).toEqual(['default-1', 'default-2']);
    expect(envOf(done)).toEqual({ JOB_MODE: 'slow', JOB_KEEP: 'kept', OVR_NEW: 'added' });
  });

  it('taskCount replaces the job taskCount, and each task sees its index and the count', async () => {
    const { done, seen } = await runAndRecord({ taskCount: 4 });
    expect(done.taskCount).toBe(4);
    expect(done.succeededCount).toBe(4);
    expect([...seen.keys()].sort()).toEqual(['0-0', '1-0', '2-0', '3-0']);
    for (const [key, attempt] of seen) {
      expect(attempt.env.CLOUD_RUN_TASK_COUNT).toBe('4');
      expect(attempt.env.CLOUD_RUN_TASK_INDEX).toBe(key.split('-')[0]);
    }
  });

  it('timeout replaces the job timeout', async () => {
    const { done } = await runAndRecord({ timeout: { seconds: 30 } });
    expect(Number(done.template?.timeout?.seconds)).toBe(30);
    const { done: plain } = await runAndRecord();
    expect(Number(plain.template?.timeout?.seconds)).toBe(120);
  });

  it('the execution name is {job}-{suffix}, in the operation metadata at once, and the task env names it', async () => {
    const { operation, execution } = await run(rig, 'report');
    expect(execution).toMatch(
      new RegExp(`^${rig.jobName('report')}/executions/report-[a-z0-9]{5}$`),
    );
    expect(operation.name).toMatch(
      new RegExp(`^projects/${rig.project}/locations/${rig.location}/operations/`),
    );
    await waitDone(rig, execution);
    const seen = await recorded(rig, execution);
    expect(seen.get('0-0')?.env).toMatchObject({
      CLOUD_RUN_JOB: 'report',
      CLOUD_RUN_EXECUTION: execution.split('/').at(-1),
    });
  });

  it('an execution can be found again by an env value of its template, newest first', async () => {
    const marker = `req-${Date.now()}`;
    const first = await run(rig, 'report', {
      containerOverrides: [{ env: [{ name: 'OVR_REQUEST', value: marker }] }],
    });
    await run(rig, 'report', {
      containerOverrides: [{ env: [{ name: 'OVR_REQUEST', value: 'someone-else' }] }],
    });
    const second = await run(rig, 'report', {
      containerOverrides: [{ env: [{ name: 'OVR_REQUEST', value: marker }] }],
    });
    const [all] = await rig.executions.listExecutions({ parent: rig.jobName('report') });
    const matching = all.filter((e) => envOf(e).OVR_REQUEST === marker).map((e) => e.name);
    expect(matching).toEqual([second.execution, first.execution]);
    await Promise.all(all.map((e) => waitDone(rig, e.name ?? '')));
  });
});
