import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../harness/leaks.ts';
import { completed, FIXTURES, NODE, run, startRig, until, waitDone, type Rig } from './helpers.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('timeouts, cancellation and stop: SIGTERM, then SIGKILL after the grace period', () => {
  let rig: Rig;
  const graceMs = 400;
  beforeAll(async () => {
    rig = await startRig({
      killGraceMs: graceMs,
      jobs: {
        jobs: {
          slow: {
            command: [NODE, `${FIXTURES}signals.ts`],
            taskCount: 1,
            maxRetries: 0,
            timeoutSeconds: 1,
          },
          stubborn: {
            command: [NODE, `${FIXTURES}signals.ts`],
            env: { IGNORE_SIGTERM: '1' },
            taskCount: 1,
            maxRetries: 0,
            timeoutSeconds: 1,
          },
          long: {
            command: [NODE, `${FIXTURES}signals.ts`],
            taskCount: 3,
            parallelism: 2,
            maxRetries: 1,
            timeoutSeconds: 600,
          },
        },
      },
    });
  });
  afterAll(async () => rig.close());

  const base = (execution: string, index = 0) =>
    join(rig.dir, `${execution.split('/').at(-1)}-${index}`);

  it('a task past its timeout gets SIGTERM and fails the execution', async () => {
    const { execution } = await run(rig, 'slow');
    const done = await waitDone(rig, execution);
    expect(existsSync(`${base(execution)}.term`)).toBe(true);
    expect(done.failedCount).toBe(1);
    expect(completed(done)?.state).toBe('CONDITION_FAILED');
    expect(completed(done)?.message).toMatch(/timeout/);
  });

  it('a task that ignores SIGTERM is killed with SIGKILL after the grace period', async () => {
    const { execution } = await run(rig, 'stubborn');
    const pid = Number(
      await until('the task to start', async () =>
        existsSync(`${base(execution)}.ready`)
          ? readFile(`${base(execution)}.ready`, 'utf8')
          : undefined,
      ),
    );
    const done = await waitDone(rig, execution);
    const termAt = Number(await readFile(`${base(execution)}.term`, 'utf8'));
    const completedAt =
      Number(done.completionTime?.seconds) * 1000 +
      Math.floor((done.completionTime?.nanos ?? 0) / 1e6);
    // The task survived SIGTERM; only the later SIGKILL ended it.
    expect(completedAt - termAt).toBeGreaterThanOrEqual(graceMs - 50);
    expect(alive(pid)).toBe(false);
    expect(done.failedCount).toBe(1);
    expect(completed(done)?.message).toMatch(/timeout/);
  });

  it('a timeout override shorter than the job timeout applies', async () => {
    const { execution } = await run(rig, 'long', { taskCount: 1, timeout: { seconds: 1 } });
    const done = await waitDone(rig, execution, 20_000);
    expect(existsSync(`${base(execution)}.term`)).toBe(true);
    // A timed-out attempt is retried like any failure: 1 + maxRetries attempts, then failed.
    expect(done.retriedCount).toBe(1);
    expect(done.failedCount).toBe(1);
  }, 30_000);

  it('CancelExecution sends SIGTERM to running tasks, never starts pending ones, and marks the execution cancelled', async () => {
    const { operation, execution } = await run(rig, 'long');
    // Both running tasks have their SIGTERM handler installed once they wrote .ready.
    await until('two tasks running', () =>
      [0, 1].every((i) => existsSync(`${base(execution, i)}.ready`)) ? true : undefined,
    );
    const [running] = await rig.executions.getExecution({ name: execution });
    expect(running.runningCount).toBe(2);
    const [cancelOp] = await rig.executions.cancelExecution({ name: execution });
    await cancelOp.promise();
    await expect(operation.promise()).rejects.toThrow(/cancelled/);
    const done = await waitDone(rig, execution);
    expect(existsSync(`${base(execution, 0)}.term`)).toBe(true);
    expect(existsSync(`${base(execution, 1)}.term`)).toBe(true);
    expect(existsSync(`${base(execution, 2)}.ready`)).toBe(false);
    expect(done.cancelledCount).toBe(3);
    expect(done.runningCount).toBe(0);
    expect(done.succeededCount).toBe(0);
    expect(done.retriedCount).toBe(0);
    expect(completed(done)?.state).toBe('CONDITION_FAILED');
    expect(completed(done)?.executionReason).toBe('CANCELLED');
  });

  it('stop() kills every task process, including ones that ignore SIGTERM', async () => {
    const other = await startRig({
      jobs: {
        jobs: {
          stubborn: {
            command: [NODE, `${FIXTURES}signals.ts`],
            env: { IGNORE_SIGTERM: '1' },
            taskCount: 2,
            timeoutSeconds: 600,
          },
        },
      },
    });
    const { execution } = await run(other, 'stubborn');
    const id = execution.split('/').at(-1) ?? '';
    const pids = await until('both tasks to start', async () => {
      const files = [0, 1].map((i) => join(other.dir, `${id}-${i}.ready`));
      if (!files.every((f) => existsSync(f))) return undefined;
      return Promise.all(files.map(async (f) => Number(await readFile(f, 'utf8'))));
    });
    expect(pids.every(alive)).toBe(true);
    await other.close();
    expect(pids.some(alive)).toBe(false);
  });
});
