import { readFile } from 'node:fs/promises';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/leaks.ts';
import { TASK_NICE } from '../../src/emulator/task-process.ts';
import {
  completed,
  condition,
  FIXTURES,
  NODE,
  recorded,
  run,
  startRig,
  waitDone,
  type Rig,
} from './helpers.ts';

/** The largest number of tasks between their start and end marks at one time. */
function maxConcurrent(marks: string): number {
  let running = 0;
  let max = 0;
  for (const line of marks.trim().split('\n')) {
    running += line.startsWith('start') ? 1 : -1;
    max = Math.max(max, running);
  }
  return max;
}

describe('tasks: parallelism, retries, counts and conditions', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig({
      jobs: {
        jobs: {
          marks: {
            command: [NODE, `${FIXTURES}marks.ts`],
            // Held long enough that two tasks overlap however slowly a loaded machine starts Node.
            env: { HOLD_MS: '800' },
            taskCount: 6,
            parallelism: 2,
            maxRetries: 0,
          },
          wide: {
            command: [NODE, `${FIXTURES}marks.ts`],
            taskCount: 4,
            parallelism: 0,
            maxRetries: 0,
          },
          flaky: {
            command: [NODE, `${FIXTURES}record-env.ts`],
            env: { FAIL_UNTIL_ATTEMPT: '2' },
            taskCount: 2,
            maxRetries: 3,
          },
          doomed: {
            command: [NODE, `${FIXTURES}record-env.ts`],
            env: { FAIL_UNTIL_ATTEMPT: '99' },
            taskCount: 1,
            maxRetries: 2,
          },
          ok: { command: [NODE, `${FIXTURES}record-env.ts`], taskCount: 3 },
          'heap-exhausted': {
            command: [
              NODE,
              '--max-old-space-size=16',
              '-e',
              'const a = []; for (;;) a.push(new Array(1e5).fill(1.5));',
            ],
            maxRetries: 0,
          },
          aborts: { command: [NODE, '-e', 'process.abort()'], maxRetries: 0 },
          niced: {
            command: [NODE, '-e', "console.log(`nice ${require('node:os').getPriority()}`)"],
          },
          chatty: {
            command: [NODE, '-e'],
            args: [
              'const i = process.env.CLOUD_RUN_TASK_INDEX; console.log(`out ${i}`); console.error(`err ${i}`);',
            ],
            taskCount: 2,
          },
        },
      },
    });
  });
  afterAll(async () => rig.close());

  it('never runs more than parallelism tasks at once, and does reach it', async () => {
    const marksFile = join(rig.dir, 'marks-parallel.txt');
    const { execution } = await run(rig, 'marks', {
      containerOverrides: [{ env: [{ name: 'MARKS', value: marksFile }] }],
    });
    const done = await waitDone(rig, execution);
    expect(done.succeededCount).toBe(6);
    expect(done.parallelism).toBe(2);
    const marks = await readFile(marksFile, 'utf8');
    expect(marks.match(/start/g)).toHaveLength(6);
    expect(maxConcurrent(marks)).toBe(2);
  });

  it('parallelism 0 runs every task at once', async () => {
    const marksFile = join(rig.dir, 'marks-wide.txt');
    const { execution } = await run(rig, 'wide', {
      containerOverrides: [
        {
          env: [
            { name: 'MARKS', value: marksFile },
            { name: 'HOLD_MS', value: '1500' },
          ],
        },
      ],
    });
    await waitDone(rig, execution);
    expect(maxConcurrent(await readFile(marksFile, 'utf8'))).toBe(4);
  });

  it('retries a failed task with CLOUD_RUN_TASK_ATTEMPT 0, 1, 2 and counts the retried tasks', async () => {
    const { operation, execution } = await run(rig, 'flaky');
    const [result] = await operation.promise();
    expect(result.name).toBe(execution);
    const seen = await recorded(rig, execution);
    expect([...seen.keys()].sort()).toEqual(['0-0', '0-1', '0-2', '1-0', '1-1', '1-2']);
    expect(seen.get('0-2')?.env.CLOUD_RUN_TASK_ATTEMPT).toBe('2');
    expect(result.succeededCount).toBe(2);
    expect(result.failedCount).toBe(0);
    expect(result.retriedCount).toBe(2);
    expect(completed(result)?.state).toBe('CONDITION_SUCCEEDED');
  });

  it('a task that fails every attempt fails the execution after maxRetries, and operation.promise() rejects', async () => {
    const { operation, execution } = await run(rig, 'doomed');
    await expect(operation.promise()).rejects.toThrow(/failed/);
    const [done] = await rig.executions.getExecution({ name: execution });
    expect([...(await recorded(rig, execution)).keys()].sort()).toEqual(['0-0', '0-1', '0-2']);
    expect(done.failedCount).toBe(1);
    expect(done.succeededCount).toBe(0);
    expect(done.retriedCount).toBe(1);
    expect(done.runningCount).toBe(0);
    const condition = completed(done);
    expect(condition?.state).toBe('CONDITION_FAILED');
    expect(condition?.executionReason).toBe('NON_ZERO_EXIT_CODE');
    expect(condition?.message).toMatch(/exit code 1/);
    expect(done.reconciling).toBe(false);
  });

  it('a task that exhausts its heap is reported as out of memory; a bare abort is not', async () => {
    const oom = await run(rig, 'heap-exhausted');
    await expect(oom.operation.promise()).rejects.toThrow(/failed/);
    const [oomDone] = await rig.executions.getExecution({ name: oom.execution });
    expect(completed(oomDone)?.message).toMatch(
      /Memory limit exceeded: the container ran out of memory \(JavaScript heap out of memory\) and terminated by SIGABRT/,
    );
    const abort = await run(rig, 'aborts');
    await expect(abort.operation.promise()).rejects.toThrow(/failed/);
    const [abortDone] = await rig.executions.getExecution({ name: abort.execution });
    expect(completed(abortDone)?.message).toMatch(/terminated by SIGABRT/);
    expect(completed(abortDone)?.message).not.toMatch(/memory/i);
  });

  it('a successful execution: counts, times, conditions, and operation.promise() resolving to the Execution', async () => {
    const { operation, execution } = await run(rig, 'ok');
    const [result, metadata] = await operation.promise();
    expect(result.name).toBe(execution);
    expect((metadata as { name?: string } | undefined)?.name).toBe(execution);
    expect(result.succeededCount).toBe(3);
    expect(result.runningCount).toBe(0);
    expect(result.failedCount).toBe(0);
    expect(result.cancelledCount).toBe(0);
    expect(result.retriedCount).toBe(0);
    const created = Number(result.createTime?.seconds);
    const start = Number(result.startTime?.seconds);
    const end = Number(result.completionTime?.seconds);
    expect(start).toBeGreaterThanOrEqual(created);
    expect(end).toBeGreaterThanOrEqual(start);
    expect(completed(result)?.state).toBe('CONDITION_SUCCEEDED');
    expect(completed(result)?.message).toMatch(/completed successfully/);
    for (const type of ['ResourcesAvailable', 'Started']) {
      expect(condition(result, type)?.state).toBe('CONDITION_SUCCEEDED');
    }
  });

  it('tasks run below the emulator’s scheduling priority (nice 10), as on machines of their own', async () => {
    const { execution } = await run(rig, 'niced');
    await waitDone(rig, execution);
    const id = execution.split('/').at(-1) ?? '';
    expect(rig.logs.filter((l) => l.startsWith(`[${id}/`))).toEqual([
      `[${id}/0] nice ${Math.max(TASK_NICE, getPriority())}`,
    ]);
  });

  it('task output lines go to the log prefixed by execution and task index', async () => {
    const { execution } = await run(rig, 'chatty');
    await waitDone(rig, execution);
    const id = execution.split('/').at(-1) ?? '';
    const lines = rig.logs.filter((l) => l.startsWith(`[${id}/`)).sort();
    expect(lines).toEqual([
      `[${id}/0] err 0`,
      `[${id}/0] out 0`,
      `[${id}/1] err 1`,
      `[${id}/1] out 1`,
    ]);
  });
});
