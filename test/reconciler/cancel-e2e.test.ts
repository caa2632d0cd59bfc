import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBridgeServer, type BridgeServer } from '../../src/bridge/server.ts';
import { cancelJob, waitForJob } from '../../src/consumer/index.ts';
import { silentLogger } from '../../src/log.ts';
import { DEFAULT_RECONCILE_OPTIONS } from '../../src/reconciler/index.ts';
import { bridgeConfig, envelope, REGION } from '../bridge/rig.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { startWorkEmulator, workJob, type WorkEmulator } from '../harness/work-emulator.ts';

const JOB = 'simulate';

/**
 * Cancellation through every real part: the bridge dispatches, the Cloud Run Jobs emulator runs
 * `jobbridge work simulate` tasks, `cancelJob` asks, a reconcile pass (POST /reconcile) calls
 * CancelExecution, the tasks get SIGTERM, the workers record the attempt, the job ends cancelled.
 */
describe('cancellation end to end, with real workers', () => {
  const projectId = testProjectId('cancel-e2e');
  const db = testFirestore(projectId);
  let rig: WorkEmulator;
  let app: BridgeServer;

  beforeAll(async () => {
    rig = await startWorkEmulator(
      projectId,
      { [JOB]: workJob([JOB], { maxRetries: 3 }) },
      { taskEnv: { LOG_LEVEL: 'warn' }, region: REGION },
    );
    app = buildBridgeServer({
      config: bridgeConfig(projectId, { jobs: new Set([JOB]) }),
      firestore: db,
      launcher: rig.launcher,
      logger: silentLogger(),
      reconcile: { ...DEFAULT_RECONCILE_OPTIONS, maxPages: 5 },
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await rig?.close();
    await db.terminate();
  });

  it('a running two-task job ends cancelled, each worker stopped by SIGTERM, no retry spent', async () => {
    const requestId = 'cancel-me';
    const request = {
      schemaVersion: 1,
      requestId,
      job: JOB,
      function: JOB,
      args: ['--steps', '2000', '--step-ms', '50'],
      taskCount: 2,
    };
    const pushed = await app.inject({
      method: 'POST',
      url: '/pubsub/push',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(envelope(request)),
    });
    expect(pushed.json()).toMatchObject({ outcome: 'dispatched' });

    // Both workers have started and reported.
    const tasks = db.collection('jobs').doc(requestId).collection('tasks');
    const deadline = Date.now() + 30_000;
    while ((await tasks.where('state', '==', 'running').count().get()).data().count < 2) {
      if (Date.now() > deadline) throw new Error('the two tasks never both ran');
      await new Promise((r) => setTimeout(r, 100));
    }

    expect(await cancelJob(db, requestId)).toEqual({ outcome: 'requested' });
    const pass = await app.inject({ method: 'POST', url: '/reconcile' });
    expect(pass.json()).toMatchObject({ actions: { 'cancel-sent': 1 } });

    const { job } = await waitForJob(db, requestId, { timeoutMs: 20_000 });
    expect(job?.state).toBe('cancelled');
    expect(job?.error).toMatchObject({ code: 'cancelled' });

    // The job ends with the first stopped task; the execution once every task has exited.
    const recorded = (await db.collection('jobs').doc(requestId).get()).data() as {
      dispatch: { executionName: string };
    };
    const ended = Date.now() + 20_000;
    let [execution] = await rig.run.executions.getExecution({
      name: recorded.dispatch.executionName,
    });
    while (!execution.completionTime) {
      if (Date.now() > ended) throw new Error('the cancelled execution never ended');
      await new Promise((r) => setTimeout(r, 100));
      [execution] = await rig.run.executions.getExecution({
        name: recorded.dispatch.executionName,
      });
    }
    expect(execution).toMatchObject({ cancelledCount: 2, succeededCount: 0, retriedCount: 0 });
    for (const index of ['0', '1']) {
      expect((await tasks.doc(index).get()).data()).toMatchObject({
        state: 'failed',
        willRetry: false,
        attempt: 0,
        error: { code: 'cancelled' },
      });
    }
  });
});
