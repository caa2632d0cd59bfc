import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/leaks.ts';
import {
  codeOf,
  condition,
  FIXTURES,
  NODE,
  run,
  startRig,
  waitDone,
  until,
  type IExecution,
  type Rig,
} from './helpers.ts';

interface Dump {
  env: Record<string, string>;
  cwd: string;
}

/** What dump-env.ts wrote for each attempt of an execution, keyed `index-attempt`. */
async function dumps(rig: Rig, execution: string): Promise<Map<string, Dump>> {
  const id = execution.split('/').at(-1) ?? '';
  const out = new Map<string, Dump>();
  for (const file of await readdir(rig.dir)) {
    if (!file.startsWith(`${id}-`) || !file.endsWith('.dump.json')) continue;
    out.set(
      file.slice(id.length + 1, -'.dump.json'.length),
      JSON.parse(await readFile(join(rig.dir, file), 'utf8')) as Dump,
    );
  }
  return out;
}

/** Where the emulator may differ from Cloud Run and code tested here would break in production. */
describe('fidelity to Cloud Run, through the real clients', () => {
  let rig: Rig;
  const SECRET = 'JOBBRIDGE_FIDELITY_EMULATOR_ONLY';
  beforeAll(async () => {
    // Set only in the emulator's own environment, as a developer's shell credentials would be.
    process.env[SECRET] = 'must-not-leak';
    rig = await startRig({
      jobs: {
        jobs: {
          dump: {
            command: [NODE, `${FIXTURES}dump-env.ts`],
            env: { JOB_LEVEL: 'job' },
            maxRetries: 1,
          },
          codes: { command: [NODE, `${FIXTURES}exit-code.ts`], taskCount: 1, maxRetries: 2 },
          wide: { command: ['/bin/true'], taskCount: 300, parallelism: 0, maxRetries: 0 },
          quick: { command: ['/bin/true'], maxRetries: 0 },
        },
      },
    });
  });
  afterAll(async () => {
    delete process.env[SECRET];
    await rig.close();
  });

  it("a task sees its job's env, the overrides, the Cloud Run contract and a minimal PATH/HOME, never the emulator's own env; each attempt has its own scratch folder", async () => {
    const { execution } = await run(rig, 'dump', {
      containerOverrides: [
        {
          env: [
            { name: 'OVR_X', value: '1' },
            { name: 'EXIT_CODE', value: '1' },
          ],
        },
      ],
    });
    const done = await waitDone(rig, execution);
    expect(done.failedCount).toBe(1);
    const seen = await dumps(rig, execution);
    expect([...seen.keys()].sort()).toEqual(['0-0', '0-1']);
    const first = seen.get('0-0');
    const second = seen.get('0-1');
    expect(first?.env[SECRET]).toBeUndefined();
    expect(Object.keys(first?.env ?? {}).sort()).toEqual(
      [
        'CLOUD_RUN_EXECUTION',
        'CLOUD_RUN_JOB',
        'CLOUD_RUN_TASK_ATTEMPT',
        'CLOUD_RUN_TASK_COUNT',
        'CLOUD_RUN_TASK_INDEX',
        'EXIT_CODE',
        'HOME',
        'JOB_LEVEL',
        'OUT_DIR',
        'OVR_X',
        'PATH',
      ].sort(),
    );
    expect(first?.env.HOME).not.toBe(process.env.HOME);
    expect(first?.cwd).toBe(first?.env.HOME);
    expect(second?.cwd).not.toBe(first?.cwd);
    expect(first?.cwd).not.toBe(process.cwd());
  });

  it.each([
    [
      'a container override whose name is not the job container',
      { containerOverrides: [{ name: 'other', args: ['x'] }] },
      /container_overrides\[0\]\.name: 'other' is not a container of the job/,
    ],
    [
      'CLOUD_RUN_TASK_INDEX in the overrides',
      { containerOverrides: [{ env: [{ name: 'CLOUD_RUN_TASK_INDEX', value: '7' }] }] },
      /env\[0\]\.name: 'CLOUD_RUN_TASK_INDEX' is reserved by Cloud Run/,
    ],
    [
      'PORT in the overrides',
      { containerOverrides: [{ env: [{ name: 'PORT', value: '1' }] }] },
      /'PORT' is reserved/,
    ],
  ])(
    'refuses %s with INVALID_ARGUMENT naming the field, and starts nothing',
    async (_what, overrides, message) => {
      const parent = rig.jobName('quick');
      const before = (await rig.executions.listExecutions({ parent }))[0].length;
      const error = await rig.jobs.runJob({ name: parent, overrides }).then(
        () => undefined,
        (err: unknown) => err as { code: number; details: string },
      );
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(error?.details).toMatch(message);
      expect((await rig.executions.listExecutions({ parent }))[0].length).toBe(before);
      // The job's own container name is accepted.
      await run(rig, 'quick', { containerOverrides: [{ name: 'quick', args: [] }] });
    },
  );

  it('a retried task: retried counts its retries, a Retry condition, exit codes of the last attempt; logs kept where logUri says', async () => {
    const { execution } = await run(rig, 'codes', {
      containerOverrides: [{ env: [{ name: 'EXIT_0', value: '5' }] }],
    });
    await waitDone(rig, execution);
    const [[task]] = await rig.tasks.listTasks({ parent: execution });
    expect(task?.retried).toBe(2);
    expect(task?.lastAttemptResult?.exitCode).toBe(5);
    expect(condition(task as IExecution, 'Retry')?.message).toContain('attempt 2');
    const log = await readFile(fileURLToPath(task?.logUri ?? ''), 'utf8');
    expect(log).toContain('task 0 attempt 0');
    expect(log).toContain('task 0 attempt 2');
    expect(log).toContain('attempt 2 ended: exit code 5');
  });

  it('uid is a UUID, etag changes with the resource, latestCreatedExecution and executionCount follow runs', async () => {
    const [operation] = await rig.jobs.runJob({ name: rig.jobName('dump') });
    const started = operation.metadata as IExecution;
    const done = await waitDone(rig, started.name ?? '');
    expect(done.uid).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(done.uid).not.toBe(done.name);
    expect(done.etag).toBeTruthy();
    expect(done.etag).not.toBe(started.etag);
    const [again] = await rig.executions.getExecution({ name: done.name ?? '' });
    expect(again.etag).toBe(done.etag);
    const [job] = await rig.jobs.getJob({ name: rig.jobName('dump') });
    expect(job.latestCreatedExecution?.name).toBe(done.name);
    expect(Number(job.executionCount)).toBe(2);
  });

  it('parallelism 0 is capped at 200 tasks at once (never more than the tasks) and the execution reports the number used', async () => {
    const { execution } = await run(rig, 'wide');
    const done = await waitDone(rig, execution, 60_000);
    expect(done.parallelism).toBe(200);
    expect(done.succeededCount).toBe(300);
    const { execution: small } = await run(rig, 'wide', { taskCount: 3 });
    expect((await waitDone(rig, small)).parallelism).toBe(3);
  });

  it('keeps the 1,000 newest completed executions of a job, as Cloud Run does, and deletes the oldest', async () => {
    const parent = rig.jobName('quick');
    const names: string[] = [];
    const [before] = await rig.executions.listExecutions({ parent });
    names.push(...before.map((e) => e.name ?? '').reverse());
    // Batches of 100, each waited for with one ListExecutions poll at a time, to keep the load
    // this puts on a shared machine small.
    while (names.length < 1003) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, 1003 - names.length) }, () => run(rig, 'quick')),
      );
      const wanted = new Set(batch.map((b) => b.execution));
      await until(
        'the batch to complete',
        async () => {
          const [page] = await rig.executions.listExecutions({ parent, pageSize: 200 });
          const completedNow = page.filter((e) => wanted.has(e.name ?? '') && e.completionTime);
          return completedNow.length === wanted.size ? true : undefined;
        },
        60_000,
      );
      names.push(...batch.map((b) => b.execution));
    }
    const [kept] = await rig.executions.listExecutions({ parent, pageSize: 1000 });
    const all = new Set(kept.map((e) => e.name));
    expect(all.size).toBe(1000);
    expect(await codeOf(rig.executions.getExecution({ name: names[0] ?? '' }))).toBe(
      status.NOT_FOUND,
    );
    expect(all.has(names.at(-1))).toBe(true);
  }, 180_000);
});
