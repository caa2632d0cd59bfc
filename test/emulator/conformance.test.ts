import { status } from '@grpc/grpc-js';
import type { protos } from '@google-cloud/run';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/leaks.ts';
import {
  completed,
  envOf,
  FIXTURES,
  NODE,
  recorded,
  startRig,
  until,
  waitDone,
  type IExecution,
  type Rig,
  type Transport,
} from './helpers.ts';

/** The status code of a rejected call, and its message. */
async function refusal(promise: Promise<unknown>): Promise<{ code?: number; message: string }> {
  try {
    await promise;
  } catch (err: unknown) {
    // gRPC errors carry the server's message in `details`; HTTP/JSON ones in `message`.
    const e = err as { code?: number; details?: unknown; message?: string };
    return { code: e.code, message: typeof e.details === 'string' ? e.details : (e.message ?? '') };
  }
  throw new Error('the call was expected to be refused');
}

/**
 * The emulator's conformance suite: every case runs through Google's own clients twice, over
 * gRPC and over HTTP/JSON (`fallback: true`), against the same emulator build.
 */
describe.each<Transport>(['grpc', 'http'])(
  'conformance over %s, through the real clients',
  (transport) => {
    let rig: Rig;
    beforeAll(async () => {
      rig = await startRig({
        transport,
        killGraceMs: 300,
        jobs: {
          jobs: {
            report: {
              command: [NODE, `${FIXTURES}record-env.ts`],
              args: ['default-arg'],
              env: { JOB_MODE: 'job-file' },
              taskCount: 1,
              maxRetries: 0,
              timeoutSeconds: 120,
            },
            codes: { command: [NODE, `${FIXTURES}exit-code.ts`], taskCount: 3, maxRetries: 0 },
            hold: { command: [NODE, `${FIXTURES}signals.ts`], maxRetries: 0 },
          },
        },
      });
    });
    afterAll(async () => rig.close());

    const location = () => `projects/${rig.project}/locations/${rig.location}`;

    it('GetJob and ListJobs return the job file as Cloud Run Jobs', async () => {
      const [job] = await rig.jobs.getJob({ name: rig.jobName('codes') });
      expect(job.name).toBe(rig.jobName('codes'));
      expect(job.template?.taskCount).toBe(3);
      expect(job.template?.template?.containers?.[0]?.name).toBe('codes');
      const [jobs] = await rig.jobs.listJobs({ parent: location() });
      expect(jobs.map((j) => j.name).sort()).toEqual(
        ['codes', 'hold', 'report'].map((j) => rig.jobName(j)),
      );
    });

    it('NOT_FOUND for a missing job, on GetJob and RunJob', async () => {
      const missing = rig.jobName('missing');
      const got = await refusal(rig.jobs.getJob({ name: missing }));
      expect(got.code).toBe(status.NOT_FOUND);
      expect(got.message).toContain("Resource 'missing' of kind 'JOB'");
      expect((await refusal(rig.jobs.runJob({ name: missing }))).code).toBe(status.NOT_FOUND);
    });

    it('RunJob with overrides (args, env, taskCount, timeout): operation.promise() resolves with the finished Execution', async () => {
      const [operation] = await rig.jobs.runJob({
        name: rig.jobName('report'),
        overrides: {
          containerOverrides: [
            { name: 'report', args: ['x', 'y'], env: [{ name: 'OVR_COLOR', value: 'blue' }] },
          ],
          taskCount: 2,
          timeout: { seconds: 45 },
        },
      });
      expect(operation.name).toMatch(new RegExp(`^${location()}/operations/`));
      const metadata = operation.metadata as IExecution;
      expect(metadata.name).toMatch(new RegExp(`^${rig.jobName('report')}/executions/report-`));
      const [execution] = await operation.promise();
      expect(execution.name).toBe(metadata.name);
      expect(execution.completionTime).toBeTruthy();
      expect(execution.succeededCount).toBe(2);
      expect(execution.taskCount).toBe(2);
      expect(Number(execution.template?.timeout?.seconds)).toBe(45);
      expect(envOf(execution)).toEqual({ JOB_MODE: 'job-file', OVR_COLOR: 'blue' });
      const seen = await recorded(rig, execution.name ?? '');
      expect([...seen.keys()].sort()).toEqual(['0-0', '1-0']);
      expect(seen.get('1-0')?.argv).toEqual(['x', 'y']);
      expect(seen.get('1-0')?.env).toMatchObject({ JOB_MODE: 'job-file', OVR_COLOR: 'blue' });
      expect(completed(execution)?.state).toBe('CONDITION_SUCCEEDED');
    });

    it('GetExecution and ListExecutions, newest first, paged', async () => {
      const parent = rig.jobName('report');
      const names: string[] = [];
      for (let i = 0; i < 2; i++) {
        const [operation] = await rig.jobs.runJob({ name: parent });
        const [execution] = await operation.promise();
        names.push(execution.name ?? '');
      }
      const [got] = await rig.executions.getExecution({ name: names[1] ?? '' });
      expect(got.succeededCount).toBe(1);
      const [first, , response] = await rig.executions.listExecutions(
        { parent, pageSize: 1 },
        { autoPaginate: false },
      );
      expect(first.map((e) => e.name)).toEqual([names[1]]);
      expect(response?.nextPageToken).toBeTruthy();
      const [second] = await rig.executions.listExecutions(
        { parent, pageSize: 1, pageToken: response?.nextPageToken ?? '' },
        { autoPaginate: false },
      );
      expect(second.map((e) => e.name)).toEqual([names[0]]);
      const [all] = await rig.executions.listExecutions({ parent });
      expect(all.length).toBeGreaterThanOrEqual(3);
    });

    it('ListTasks and GetTask of a 3-task execution: indexes 0–2, exit codes, attempts, log locations', async () => {
      const [operation] = await rig.jobs.runJob({
        name: rig.jobName('codes'),
        overrides: { containerOverrides: [{ env: [{ name: 'EXIT_1', value: '3' }] }] },
      });
      const failure = await refusal(operation.promise());
      expect(failure.code).toBe(status.ABORTED);
      const name = (operation.metadata as IExecution).name ?? '';
      const id = name.split('/').at(-1) ?? '';
      expect(failure.message).toContain(
        `Execution ${id} has failed to complete, 2/3 tasks were a success.`,
      );
      const [tasks] = await rig.tasks.listTasks({ parent: name });
      expect(tasks.map((t) => t.index)).toEqual([0, 1, 2]);
      expect(tasks.map((t) => t.lastAttemptResult?.exitCode)).toEqual([0, 3, 0]);
      expect(tasks.map((t) => t.retried ?? 0)).toEqual([0, 0, 0]);
      const [task] = await rig.tasks.getTask({ name: tasks[1]?.name ?? '' });
      expect(task.name).toBe(`${name}/tasks/${id}-task1`);
      expect(task.job).toBe('codes');
      expect(task.execution).toBe(id);
      expect(task.startTime).toBeTruthy();
      expect(task.completionTime).toBeTruthy();
      expect(task.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(task.logUri).toMatch(/^file:\/\//);
      const failed = completed(task);
      expect(failed?.state).toBe('CONDITION_FAILED');
      expect(failed?.executionReason).toBe('NON_ZERO_EXIT_CODE');
      expect(failed?.message).toContain('exit code 3');
      // Paging, and Cloud Run's "-" for every execution of the job.
      const [page, , response] = await rig.tasks.listTasks(
        { parent: name, pageSize: 2 },
        { autoPaginate: false },
      );
      expect(page.map((t) => t.index)).toEqual([0, 1]);
      expect(response?.nextPageToken).toBeTruthy();
      const [acrossExecutions] = await rig.tasks.listTasks({
        parent: `${rig.jobName('codes')}/executions/-`,
      });
      expect(acrossExecutions.filter((t) => t.execution === id)).toHaveLength(3);
      const [acrossJobs] = await rig.tasks.listTasks({
        parent: `${location()}/jobs/-/executions/-`,
      });
      expect(new Set(acrossJobs.map((t) => t.job))).toEqual(new Set(['codes', 'report']));
      expect((await refusal(rig.tasks.getTask({ name: `${name}/tasks/${id}-task7` }))).code).toBe(
        status.NOT_FOUND,
      );
    });

    it('CancelExecution stops a running execution; its operation rejects CANCELLED', async () => {
      const [operation] = await rig.jobs.runJob({ name: rig.jobName('hold') });
      const name = (operation.metadata as IExecution).name ?? '';
      await until('the task to run', async () => {
        const [execution] = await rig.executions.getExecution({ name });
        return execution.runningCount === 1 ? true : undefined;
      });
      const [cancel] = await rig.executions.cancelExecution({ name });
      await cancel.promise();
      const done = await waitDone(rig, name);
      expect(done.cancelledCount).toBe(1);
      expect(completed(done)?.executionReason).toBe('CANCELLED');
      expect((await refusal(operation.promise())).code).toBe(status.CANCELLED);
    });

    it('DeleteExecution: refused while running, then an operation that deletes it', async () => {
      const [operation] = await rig.jobs.runJob({ name: rig.jobName('hold') });
      const name = (operation.metadata as IExecution).name ?? '';
      const refused = await refusal(rig.executions.deleteExecution({ name }));
      expect(refused.code).toBe(status.FAILED_PRECONDITION);
      expect(refused.message).toContain('still running');
      await rig.executions.cancelExecution({ name });
      await waitDone(rig, name);
      const [deletion] = await rig.executions.deleteExecution({ name });
      const [deleted] = await deletion.promise();
      expect(deleted.name).toBe(name);
      expect((await refusal(rig.executions.getExecution({ name }))).code).toBe(status.NOT_FOUND);
      const [left] = await rig.executions.listExecutions({ parent: rig.jobName('hold') });
      expect(left.map((e) => e.name)).not.toContain(name);
      const [job] = await rig.jobs.getJob({ name: rig.jobName('hold') });
      expect(Number(job.executionCount)).toBe(2);
    });

    it('a task past its timeout: the operation rejects DEADLINE_EXCEEDED, not tagged as an exit code', async () => {
      const [operation] = await rig.jobs.runJob({
        name: rig.jobName('hold'),
        overrides: { timeout: { seconds: 1 } },
      });
      const failure = await refusal(operation.promise());
      expect(failure.code).toBe(status.DEADLINE_EXCEEDED);
      const name = (operation.metadata as IExecution).name ?? '';
      expect(failure.message).toContain(
        `Execution ${name.split('/').at(-1)} has failed to complete, 0/1 tasks were a success.`,
      );
      const done = await waitDone(rig, name);
      expect(completed(done)?.state).toBe('CONDITION_FAILED');
      expect(completed(done)?.executionReason).not.toBe('NON_ZERO_EXIT_CODE');
      const [tasks] = await rig.tasks.listTasks({ parent: name });
      expect(tasks[0]?.lastAttemptResult?.status?.code).toBe(status.DEADLINE_EXCEEDED);
    });

    it('Operations: Get, List and Delete', async () => {
      const [operation] = await rig.jobs.runJob({ name: rig.jobName('report') });
      await operation.promise();
      const name = operation.name ?? '';
      const request = <T>(fields: object) => fields as T;
      type Get = protos.google.longrunning.GetOperationRequest;
      const [got] = await rig.jobs.getOperation(request<Get>({ name }));
      expect(got.done).toBe(true);
      const listed: (string | null | undefined)[] = [];
      for await (const op of rig.jobs.listOperationsAsync(
        request<protos.google.longrunning.ListOperationsRequest>({ name: location() }),
      ))
        listed.push(op.name);
      expect(listed).toContain(name);
      await rig.jobs.deleteOperation(
        request<protos.google.longrunning.DeleteOperationRequest>({ name }),
      );
      expect((await refusal(rig.jobs.getOperation(request<Get>({ name })))).code).toBe(
        status.NOT_FOUND,
      );
    });
  },
);
