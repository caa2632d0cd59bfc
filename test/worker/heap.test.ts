import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { planHeap, readContainerMemoryLimit, userHeapFlag } from '../../src/worker/heap.ts';
import { emulatorHosts, testFirestore, testProjectId } from '../harness/google.ts';
import { execFileSync } from 'node:child_process';
import { createDispatchedJob, killLiveWorkers, spawnWork, taskEnv } from './helpers.ts';

const MiB = 2 ** 20;
let dir: string;
const projectId = testProjectId('heap');
const db = testFirestore(projectId);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cgroup-'));
  await mkdir(join(dir, 'v2'));
  await writeFile(join(dir, 'v2', 'memory.max'), `${512 * MiB}\n`);
  await mkdir(join(dir, 'v1', 'memory'), { recursive: true });
  await writeFile(join(dir, 'v1', 'memory', 'memory.limit_in_bytes'), `${1024 * MiB}\n`);
  await mkdir(join(dir, 'v1-unlimited', 'memory'), { recursive: true });
  await writeFile(
    join(dir, 'v1-unlimited', 'memory', 'memory.limit_in_bytes'),
    '9223372036854771712\n',
  );
  await mkdir(join(dir, 'v2-max'));
  await writeFile(join(dir, 'v2-max', 'memory.max'), 'max\n');
});
afterEach(killLiveWorkers);
afterAll(async () => {
  await db.terminate();
  await rm(dir, { recursive: true, force: true });
});

/** heap_size_limit (MiB) of a bare Node given `--max-old-space-size=<oldSpaceMiB>`: the expected value. */
function expectedHeapMiB(oldSpaceMiB: number): number {
  const out = execFileSync(
    process.execPath,
    [
      `--max-old-space-size=${oldSpaceMiB}`,
      '-p',
      'require("v8").getHeapStatistics().heap_size_limit',
    ],
    { encoding: 'utf8', env: {} },
  );
  return Math.round(Number(out) / MiB);
}

describe('container memory limit and heap', () => {
  it('reads cgroup v2 memory.max, else v1 limit_in_bytes; "max" and v1 "unlimited" mean none', async () => {
    expect(await readContainerMemoryLimit(join(dir, 'v2'))).toBe(512 * MiB);
    expect(await readContainerMemoryLimit(join(dir, 'v1'))).toBe(1024 * MiB);
    expect(await readContainerMemoryLimit(join(dir, 'v1-unlimited'))).toBeUndefined();
    expect(await readContainerMemoryLimit(join(dir, 'v2-max'))).toBeUndefined();
    expect(await readContainerMemoryLimit(join(dir, 'nothing-here'))).toBeUndefined();
  });

  it('a user heap flag (command line or NODE_OPTIONS) wins over the container sizing', () => {
    expect(userHeapFlag(['--max-old-space-size=300'], undefined)).toBe('--max-old-space-size=300');
    expect(userHeapFlag([], '--enable-source-maps --max-old-space-size-percentage=50')).toBe(
      '--max-old-space-size-percentage=50',
    );
    expect(userHeapFlag(['--enable-source-maps'], '')).toBeUndefined();
    const plan = planHeap({
      containerLimitBytes: 512 * MiB,
      percentage: 75,
      execArgv: [],
      nodeOptions: '--max-old-space-size=300',
      heapLimitBytes: 4096 * MiB,
    });
    expect(plan.resizeToMiB).toBeUndefined();
    expect(
      planHeap({
        containerLimitBytes: 512 * MiB,
        percentage: 75,
        execArgv: [],
        nodeOptions: undefined,
        heapLimitBytes: 4096 * MiB,
      }).resizeToMiB,
    ).toBe(384);
    // A percentage flag of the user's counts as chosen: no re-exec.
    expect(
      planHeap({
        containerLimitBytes: 512 * MiB,
        percentage: 75,
        execArgv: ['--max-old-space-size-percentage=75'],
        nodeOptions: undefined,
      }).resizeToMiB,
    ).toBeUndefined();
    expect(
      planHeap({
        containerLimitBytes: undefined,
        percentage: 75,
        execArgv: [],
        nodeOptions: undefined,
      }).resizeToMiB,
    ).toBeUndefined();
  });

  async function heapLine(jobId: string, extra: Record<string, string>) {
    await createDispatchedJob(db, jobId, 1);
    const w = spawnWork(
      'simulate',
      ['--steps', '1', '--step-ms', '1'],
      taskEnv({ projectId, firestoreHost: emulatorHosts().firestore, jobId, extra }),
    );
    expect(await w.exited).toBe(0);
    const line = w.logs.find((l) => l.message === 'heap limit');
    expect(line).toBeDefined();
    return line as {
      heapLimitMiB: number;
      containerLimitBytes: number | null;
      heapFlag: string | null;
    };
  }

  it('jobbridge work under a simulated 512 MiB container gets a 75 % heap (384 MiB old space) and logs both', async () => {
    const line = await heapLine('heap-512', { JOBBRIDGE_CGROUP_ROOT: join(dir, 'v2') });
    expect(line.containerLimitBytes).toBe(512 * MiB);
    expect(line.heapLimitMiB).toBe(expectedHeapMiB(384));
  });

  it('JOBBRIDGE_HEAP_PERCENTAGE changes the share (50 % of 1 GiB, cgroup v1)', async () => {
    const line = await heapLine('heap-v1', {
      JOBBRIDGE_CGROUP_ROOT: join(dir, 'v1'),
      JOBBRIDGE_HEAP_PERCENTAGE: '50',
    });
    expect(line.containerLimitBytes).toBe(1024 * MiB);
    expect(line.heapLimitMiB).toBe(expectedHeapMiB(512));
  });

  it('a user heap flag in NODE_OPTIONS is kept as is', async () => {
    const line = await heapLine('heap-user', {
      JOBBRIDGE_CGROUP_ROOT: join(dir, 'v2'),
      NODE_OPTIONS: '--max-old-space-size=200',
    });
    expect(line.heapFlag).toBe('--max-old-space-size=200');
    expect(line.heapLimitMiB).toBe(expectedHeapMiB(200));
    expect(expectedHeapMiB(200)).toBeLessThan(expectedHeapMiB(384));
  });
});
