import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRunEmulator, type StartedRunEmulator } from '../../src/emulator/index.ts';
import { CloudRunLauncher, createRunClients, type RunClients } from '../../src/launcher/index.ts';
import { jobView } from '../../src/store/job-view.ts';
import { reconcileJob } from '../../src/reconciler/reconcile-job.ts';
import {
  DEFAULT_RECONCILE_OPTIONS,
  reconcile,
  type ReconcileDeps,
} from '../../src/reconciler/index.ts';
import { emulatorHosts, testFirestore, testProjectId } from '../harness/google.ts';
import { COLLECTION, MINUTE, readJob, waitFor, writeJob } from './rig.ts';

const projectId = testProjectId('reconcile');
const db = testFirestore(projectId);
const node = process.execPath;
let emulator: StartedRunEmulator;
let clients: RunClients;
let launcher: CloudRunLauncher;
let dir: string;
let deps: ReconcideDepsAlias;
type ReconcideDepsAlias = ReconcileDeps;

/** A task that records that it started and whether SIGTERM reached it, then idles. */
const LONG_TASK = `
const fs = require('node:fs');
const marker = require('node:path').join(process.env.MARKER_DIR, process.env.JOBBRIDGE_REQUEST_ID);
fs.writeFileSync(marker, 'started\\n');
process.on('SIGTERM', () => { fs.appendFileSync(marker, 'SIGTERM\\n'); process.exit(143); });
setInterval(() => {}, 1000);
`;

const oneShot = { taskCount: 1, parallelism: 0, maxRetries: 0, timeoutSeconds: 60 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reconcile-'));
  await writeFile(join(dir, 'long.cjs'), LONG_TASK);
  emulator = await startRunEmulator({
    jobs: {
      jobs: {
        ok: { command: [node, '-e', 'setTimeout(() => {}, 200)'], ...oneShot },
        // Node aborts (SIGABRT, 134) when a 16 MiB heap is exhausted.
        oom: {
          command: [
            node,
            '--max-old-space-size=16',
            '-e',
            'const a = []; for (;;) a.push(new Array(1e5).fill(1.5));',
          ],
          ...oneShot,
        },
        'no-such-command': { command: [join(dir, 'no-such-command')], ...oneShot },
        long: { command: [node, join(dir, 'long.cjs')], ...oneShot },
        // Tasks 1 and 3 are SIGKILLed on every attempt before anything could write for them.
        'half-killed': {
          command: [
            node,
            '-e',
            "if (['1', '3'].includes(process.env.CLOUD_RUN_TASK_INDEX)) process.kill(process.pid, 'SIGKILL');",
          ],
          taskCount: 4,
          parallelism: 0,
          maxRetries: 1,
          timeoutSeconds: 60,
        },
        slow: {
          command: [node, '-e', 'setTimeout(() => {}, 60000)'],
          ...oneShot,
          timeoutSeconds: 1,
        },
      },
    },
    killGraceMs: 2000,
    taskEnv: { FIRESTORE_EMULATOR_HOST: emulatorHosts().firestore, MARKER_DIR: dir },
    log: () => undefined,
  });
  clients = createRunClients({ emulatorHost: emulator.host });
  launcher = new CloudRunLauncher(clients, { project: projectId, region: 'us-central1' });
  deps = { firestore: db, collection: COLLECTION, launcher };
});

afterAll(async () => {
  await clients?.close();
  await emulator?.stop();
  await db.terminate();
  await rm(dir, { recursive: true, force: true });
});

/** Starts an execution as the bridge would (env JOBBRIDGE_REQUEST_ID) and returns its name. */
async function launch(job: string, requestId: string): Promise<string> {
  const { executionName } = await launcher.launch({
    job,
    env: { JOBBRIDGE_REQUEST_ID: requestId },
  });
  return executionName;
}

async function ended(executionName: string) {
  return waitFor('execution end', async () => {
    const e = await launcher.getExecution(executionName);
    return e.done ? e : undefined;
  });
}

/** A pass over everything not written in the last second, with no lease grace unless given. */
function pass(extra: Parameters<typeof reconcile>[1] = {}) {
  return reconcile(deps, { staleAfterMs: 1000, leaseGraceMs: 0, ...extra });
}

function actionFor(result: Awaited<ReturnType<typeof reconcile>>, id: string) {
  return result.actions.find((a) => a.docId === id);
}

describe('reconcile: executions that ended without their workers', () => {
  it('a task killed for exhausting a small heap: failed, out-of-memory, counts and finishedAt from the execution', async () => {
    const name = await launch('oom', 'oom-1');
    await writeJob(db, 'oom-1', 'dispatched', { job: 'oom', dispatch: { executionName: name } });
    const execution = await ended(name);
    expect(execution.failedCount).toBe(1);

    const result = await pass();
    expect(actionFor(result, 'oom-1')).toMatchObject({ action: 'failed', reason: 'out-of-memory' });
    const job = await readJob(db, 'oom-1');
    expect(job.state).toBe('failed');
    expect(job.error).toMatchObject({ code: 'out-of-memory' });
    expect(String((job.error as { message: string }).message)).toMatch(
      /Memory limit exceeded.*JavaScript heap out of memory.*SIGABRT/,
    );
    expect(job.tasks).toEqual({ running: 0, succeeded: 0, failed: 1 });
    expect((job.finishedAt as { toMillis(): number }).toMillis()).toBe(
      execution.completionTime?.getTime(),
    );
  });

  it('an execution whose command does not exist: failed, start-failed, no worker started', async () => {
    const name = await launch('no-such-command', 'nocmd-1');
    await writeJob(db, 'nocmd-1', 'dispatched', {
      job: 'no-such-command',
      dispatch: { executionName: name },
    });
    await ended(name);
    await pass();
    const job = await readJob(db, 'nocmd-1');
    expect(job.state).toBe('failed');
    expect(job.error).toMatchObject({ code: 'start-failed' });
    expect(String((job.error as { message: string }).message)).toMatch(/could not start.*ENOENT/);
    expect(String((job.error as { message: string }).message)).toMatch(/no worker started/);
  });

  it('two of four tasks killed before their worker wrote anything: the job records those indexes and why, from ListTasks', async () => {
    const name = await launch('half-killed', 'half-1');
    await writeJob(db, 'half-1', 'running', {
      job: 'half-killed',
      dispatch: { executionName: name },
    });
    // Task 3's worker had begun its last attempt (a running document), then was killed.
    const tasks = db.collection(COLLECTION).doc('half-1').collection('tasks');
    await tasks.doc('3').set({ taskIndex: 3, state: 'running', attempt: 1, error: null });
    const execution = await ended(name);
    expect(execution).toMatchObject({ failedCount: 2, succeededCount: 2 });

    const result = await pass();
    expect(actionFor(result, 'half-1')).toMatchObject({ action: 'failed' });
    const job = await readJob(db, 'half-1');
    const message = String((job.error as { message: string }).message);
    expect(message).toContain('task(s) 1, 3 failed');
    expect(message).toMatch(/task 1 \(attempt 1\): The container was terminated by SIGKILL/);
    expect(message).toMatch(/task 3 \(attempt 1\): The container was terminated by SIGKILL/);
    expect(message).toContain('task document(s) 0, 1, 2, 3 recorded from Cloud Run');
    expect(job.tasks).toEqual({ running: 0, succeeded: 2, failed: 2 });
    for (const index of ['1', '3']) {
      expect((await tasks.doc(index).get()).data()).toMatchObject({
        state: 'failed',
        attempt: 1,
        willRetry: false,
        endedBy: 'reconciler',
        error: { code: 'killed', message: expect.stringContaining('SIGKILL') as unknown },
      });
    }
    // The tasks that succeeded without a worker are recorded as Cloud Run says, too.
    expect((await tasks.doc('0').get()).data()).toMatchObject({ state: 'succeeded', error: null });
  });

  it('a task past its timeout: failed, timeout', async () => {
    const name = await launch('slow', 'slow-1');
    await writeJob(db, 'slow-1', 'running', { job: 'slow', dispatch: { executionName: name } });
    await ended(name);
    await pass();
    expect((await readJob(db, 'slow-1')).error).toMatchObject({ code: 'timeout' });
  });

  it('a job whose worker wrote its terminal state first is never overwritten', async () => {
    const name = await launch('no-such-command', 'raced-1');
    await writeJob(db, 'raced-1', 'running', {
      job: 'no-such-command',
      dispatch: { executionName: name },
    });
    await ended(name);
    // The reconciler read the job while running; a worker then recorded the truth it knew.
    const view = jobView(await db.collection(COLLECTION).doc('raced-1').get());
    await db.collection(COLLECTION).doc('raced-1').update({ state: 'succeeded', error: null });
    const ctx = {
      db,
      collection: COLLECTION,
      launcher,
      options: DEFAULT_RECONCILE_OPTIONS,
      now: new Date(),
    };
    expect((await reconcileJob(ctx, view!)).action).toBe('raced');
    expect(await readJob(db, 'raced-1')).toMatchObject({ state: 'succeeded', error: null });
  });
});

describe('reconcile: stale dispatching leases', () => {
  it('an expired lease with no execution fails lease-expired, but only after the grace period', async () => {
    const expired = new Date(Date.now() - 5 * MINUTE);
    const lease = { leaseOwner: 'dead-delivery', leaseExpiresAt: expired };
    await writeJob(db, 'lease-1', 'dispatching', { dispatch: lease });

    const early = await pass({ leaseGraceMs: 10 * MINUTE });
    expect(actionFor(early, 'lease-1')).toMatchObject({ action: 'waiting' });
    expect((await readJob(db, 'lease-1')).state).toBe('dispatching');

    const late = await pass({ leaseGraceMs: 2 * MINUTE });
    expect(actionFor(late, 'lease-1')).toMatchObject({ action: 'failed', reason: 'lease-expired' });
    const job = await readJob(db, 'lease-1');
    expect(job).toMatchObject({ state: 'failed', error: { code: 'lease-expired' } });
    expect(job.dispatch).toMatchObject({ leaseOwner: null, leaseExpiresAt: null });
    expect(job.finishedAt).toBeTruthy();
  });

  it('a live lease is left to its delivery', async () => {
    const lease = {
      leaseOwner: 'busy-delivery',
      leaseExpiresAt: new Date(Date.now() + 5 * MINUTE),
    };
    await writeJob(db, 'lease-live', 'dispatching', { dispatch: lease });
    expect(actionFor(await pass(), 'lease-live')).toMatchObject({
      action: 'waiting',
      reason: 'lease live',
    });
    expect((await readJob(db, 'lease-live')).state).toBe('dispatching');
  });

  it('an expired lease whose delivery had started an execution adopts it, then records its end', async () => {
    const name = await launch('ok', 'lease-adopt');
    const lease = {
      leaseOwner: 'died-after-runjob',
      leaseExpiresAt: new Date(Date.now() - 5 * MINUTE),
    };
    await writeJob(db, 'lease-adopt', 'dispatching', { dispatch: lease });
    const first = await pass();
    expect(actionFor(first, 'lease-adopt')).toMatchObject({
      action: 'adopted',
      executionName: name,
    });
    expect(await readJob(db, 'lease-adopt')).toMatchObject({
      state: 'dispatched',
      dispatch: { executionName: name, adopted: true, leaseOwner: null },
    });
    await ended(name);
    // The adoption wrote updatedAt = now: the next pass sees it once it is stale again.
    const later = () => new Date(Date.now() + 5000);
    await reconcile({ ...deps, now: later }, { staleAfterMs: 1000 });
    expect(await readJob(db, 'lease-adopt')).toMatchObject({
      state: 'succeeded',
      tasks: { succeeded: 1, failed: 0, running: 0 },
    });
  });
});

describe('reconcile: cancellation', () => {
  it('end to end: cancelRequested → CancelExecution → the task gets SIGTERM → cancelled', async () => {
    const name = await launch('long', 'cancel-1');
    await writeJob(
      db,
      'cancel-1',
      'running',
      { job: 'long', dispatch: { executionName: name } },
      0,
    );
    const marker = join(dir, 'cancel-1');
    await waitFor('task started', () => readFile(marker, 'utf8').catch(() => undefined));
    // What `jobbridge cancel` writes.
    await db
      .collection(COLLECTION)
      .doc('cancel-1')
      .update({ cancelRequested: true, updatedAt: new Date() });

    const first = await pass({ staleAfterMs: 10 * MINUTE });
    expect(actionFor(first, 'cancel-1')).toMatchObject({
      action: 'cancel-sent',
      executionName: name,
    });
    await waitFor(
      'cancelled',
      async () => {
        await pass({ staleAfterMs: 10 * MINUTE });
        const state = (await readJob(db, 'cancel-1')).state;
        return state === 'cancelled' ? state : undefined;
      },
      20_000,
      200,
    );
    expect(await readFile(marker, 'utf8')).toBe('started\nSIGTERM\n');
    const execution = await launcher.getExecution(name);
    expect(execution).toMatchObject({ cancelledCount: 1, succeededCount: 0 });
    expect(execution.conditions.find((c) => c.type === 'Completed')?.reason).toBe('CANCELLED');
    expect((await readJob(db, 'cancel-1')).error).toMatchObject({ code: 'cancelled' });
  });

  it('a cancel before dispatch ends the job cancelled and no execution is ever started', async () => {
    await writeJob(db, 'cancel-queued', 'queued', { cancelRequested: true }, 0);
    // Released lease (a retryable launch error): cancelled without waiting for any grace.
    await writeJob(db, 'cancel-released', 'dispatching', { cancelRequested: true }, 0);
    const live = { leaseOwner: 'busy', leaseExpiresAt: new Date(Date.now() + 5 * MINUTE) };
    await writeJob(
      db,
      'cancel-leased',
      'dispatching',
      { cancelRequested: true, dispatch: live },
      0,
    );

    const result = await reconcile(deps, { staleAfterMs: 10 * MINUTE, leaseGraceMs: 10 * MINUTE });
    expect(actionFor(result, 'cancel-queued')).toMatchObject({ action: 'cancelled' });
    expect(actionFor(result, 'cancel-released')).toMatchObject({ action: 'cancelled' });
    expect(actionFor(result, 'cancel-leased')).toMatchObject({ action: 'waiting' });
    for (const id of ['cancel-queued', 'cancel-released']) {
      expect(await readJob(db, id)).toMatchObject({
        state: 'cancelled',
        error: { code: 'cancelled' },
      });
      expect(await launcher.findExecutionsByEnv('ok', 'JOBBRIDGE_REQUEST_ID', id)).toEqual([]);
    }
    expect((await readJob(db, 'cancel-leased')).state).toBe('dispatching');
  });
});

describe('reconcile: heartbeats, bounds and cost', () => {
  it('stale heartbeats of a running execution are recorded without changing the state', async () => {
    const name = await launch('long', 'beat-1');
    await writeJob(db, 'beat-1', 'running', { job: 'long', dispatch: { executionName: name } });
    await waitFor('task started', () =>
      readFile(join(dir, 'beat-1'), 'utf8').catch(() => undefined),
    );
    const old = new Date(Date.now() - 10 * MINUTE);
    const tasks = db.collection(COLLECTION).doc('beat-1').collection('tasks');
    await tasks
      .doc('0')
      .set({ taskIndex: 0, state: 'running', attempt: 0, heartbeatAt: old, startedAt: old });
    try {
      const result = await pass({ heartbeatStaleMs: 2 * MINUTE });
      expect(actionFor(result, 'beat-1')).toMatchObject({ action: 'stale-heartbeat' });
      const job = await readJob(db, 'beat-1');
      expect(job.state).toBe('running');
      expect(job.staleHeartbeat).toMatchObject({ taskIndexes: [0] });
      // Written just now: not looked at again until it is stale again.
      expect(actionFor(await pass(), 'beat-1')).toBeUndefined();
    } finally {
      await launcher.cancelExecution(name);
    }
  });

  it('pages through stale jobs with a cursor, each exactly once; nothing fresh is read', async () => {
    const prefix = 'page-';
    const ids = Array.from({ length: 5 }, (_, i) => `${prefix}${i}`);
    // Expired leases within the grace: examined, left alone (so they stay in the query).
    for (const [i, id] of ids.entries()) {
      const lease = { leaseOwner: 'x', leaseExpiresAt: new Date(Date.now() - MINUTE) };
      await writeJob(db, id, 'dispatching', { dispatch: lease }, 2 * MINUTE + i);
    }
    await writeJob(db, 'page-fresh', 'dispatching', {}, 0);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let call = 0; call < 10; call++) {
      const result = await reconcile(deps, {
        staleAfterMs: MINUTE,
        leaseGraceMs: 10 * MINUTE,
        pageSize: 2,
        ...(cursor ? { cursor } : {}),
      });
      expect(result.examined).toBeLessThanOrEqual(4);
      seen.push(...result.actions.filter((a) => a.docId.startsWith(prefix)).map((a) => a.docId));
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    expect(seen.filter((id) => ids.includes(id)).sort()).toEqual(ids);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).not.toContain('page-fresh');
  });
});

describe('jobbridge reconcile', () => {
  it('one-shot pass from the CLI: a stale lease ends failed, the pass prints what it did', async () => {
    const lease = { leaseOwner: 'gone', leaseExpiresAt: new Date(Date.now() - 20 * MINUTE) };
    await writeJob(db, 'cli-lease', 'dispatching', { dispatch: lease });
    const cli = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
    const { stdout } = await promisify(execFile)(node, [cli, 'reconcile', '--drain-for-ms', '0'], {
      timeout: 30_000,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        GOOGLE_CLOUD_PROJECT: projectId,
        JOBBRIDGE_REGION: 'us-central1',
        FIRESTORE_EMULATOR_HOST: emulatorHosts().firestore,
        CLOUD_RUN_EMULATOR_HOST: emulator.host,
        JOBBRIDGE_RECONCILE_LEASE_GRACE_MS: String(10 * MINUTE),
      },
    });
    expect(stdout).toMatch(/cli-lease: dispatching → failed \(lease-expired\)/);
    expect(stdout).toMatch(/reconciled: \d+ job\(s\) examined/);
    expect(await readJob(db, 'cli-lease')).toMatchObject({
      state: 'failed',
      error: { code: 'lease-expired' },
    });
  });
});
