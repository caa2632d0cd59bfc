import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { createRunClients, type RunClients, executionEnv } from '../../src/launcher/index.ts';
import { startRunEmulator, type StartedRunEmulator } from '../../src/emulator/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BRIDGE_EXECUTION_ENV } from '../../src/contract/index.ts';
import { emulatorHosts, testFirestore, testProjectId, testPubSub } from '../harness/google.ts';
import {
  killAllChildren,
  startChildBridge,
  type ChildBridge,
  type ChildBridgeSite,
  childBridgeEnv,
} from '../../bench/lib/child-bridge.ts';
import { envelope, eventually, JOB, jobRequest, REGION } from './rig.ts';

/** The bridge child, its Cloud Run Jobs emulator and the clients to look at both. */
describe('jobbridge serve over real sockets', () => {
  const projectId = testProjectId('bridge-e2e');
  let firestore: Firestore;
  let pubsub: PubSub;
  let emulator: StartedRunEmulator;
  let run: RunClients;
  let bridge: ChildBridge;
  let site: ChildBridgeSite;

  const executions = async () => {
    const [list] = await run.executions.listExecutions({
      parent: `projects/${projectId}/locations/${REGION}/jobs/${JOB}`,
    });
    return list;
  };
  const post = async (body: unknown) => {
    const res = await fetch(`${bridge.url}/pubsub/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { outcome: string } };
  };

  beforeAll(async () => {
    firestore = testFirestore(projectId);
    pubsub = testPubSub(projectId);
    emulator = await startRunEmulator({
      jobs: { jobs: { [JOB]: { command: ['/bin/true'], maxRetries: 1 } } },
      log: () => {},
    });
    run = createRunClients({ emulatorHost: emulator.host, projectId });
    // The Pub/Sub emulator's push carries no OIDC token (DESIGN.md): auth is tested in-process.
    site = {
      projectId,
      region: REGION,
      jobs: JOB,
      firestoreHost: emulatorHosts().firestore,
      cloudRunHost: emulator.host,
    };
    bridge = await startChildBridge(
      childBridgeEnv(site, {
        JOBBRIDGE_JOB_POLICY: JSON.stringify({ [JOB]: { functions: ['export'], env: ['MODE'] } }),
        // This suite is about dedup, not backpressure (test/bridge/backpressure.test.ts).
        JOBBRIDGE_MAX_CONCURRENT_LAUNCHES: '1000',
        JOBBRIDGE_RUNJOB_PER_MINUTE: '100000',
        JOBBRIDGE_RUNJOB_BURST: '10000',
      }),
    );
  });
  afterAll(async () => {
    await killAllChildren();
    await run?.close();
    await emulator?.stop();
    await pubsub?.close();
    await firestore?.terminate();
  });

  it('a message published to a push subscription starts exactly one execution and is dispatched', async () => {
    expect(
      bridge
        .lines()
        .some((l) => l.severity === 'WARNING' && String(l.message).includes('INSECURE_PUSH')),
    ).toBe(true);
    const [topic] = await pubsub.createTopic('jobs');
    await topic.createSubscription('bridge-push', {
      pushConfig: { pushEndpoint: `${bridge.url}/pubsub/push` },
      ackDeadlineSeconds: 10,
    });
    const requestId = 'e2e-request-1';
    const request = {
      schemaVersion: 1,
      job: JOB,
      function: 'export',
      args: ['acme'],
      env: { MODE: 'fast' },
      taskCount: 2,
      timeoutSeconds: 120,
    };
    await topic.publishMessage({ json: request, attributes: { requestId } });
    const doc = await eventually(
      async () => {
        const data = (await firestore.collection('jobs').doc(requestId).get()).data();
        return data?.state === 'dispatched' ? data : undefined;
      },
      30_000,
      'jobs/e2e-request-1 dispatched',
    );
    const list = await executions();
    expect(list).toHaveLength(1);
    const [execution] = list;
    expect((doc.dispatch as { executionName?: string }).executionName).toBe(execution?.name);
    expect(execution?.taskCount).toBe(2);
    expect(Number(execution?.template?.timeout?.seconds)).toBe(120);
    expect(execution?.template?.containers?.[0]?.args).toEqual(['work', 'export', 'acme']);
    expect(executionEnv(execution!)).toMatchObject({
      MODE: 'fast',
      [BRIDGE_EXECUTION_ENV.requestId]: requestId,
      [BRIDGE_EXECUTION_ENV.jobDocumentId]: requestId,
      [BRIDGE_EXECUTION_ENV.function]: 'export',
      [BRIDGE_EXECUTION_ENV.maxRetries]: '1',
    });
    // The document can land a moment before the log line is flushed.
    const line = await eventually(() =>
      Promise.resolve(
        bridge.lines().find((l) => l.requestId === requestId && l.outcome === 'dispatched'),
      ),
    );
    expect(line.status).toBe(201);
    expect(typeof line.messageId).toBe('string');
    expect(typeof line.latencyMs).toBe('number');

    // The producer publishes the same request id again: acked as a duplicate, nothing new.
    await topic.publishMessage({ json: request, attributes: { requestId } });
    await eventually(
      () =>
        bridge.lines().some((l) => l.requestId === requestId && l.outcome === 'duplicate')
          ? Promise.resolve(true)
          : Promise.resolve(undefined),
      30_000,
      'the second publish to be delivered',
    );
    expect(await executions()).toHaveLength(1);
  });

  it('a push answered queued is acked: the Pub/Sub emulator delivers it once', async () => {
    // A bridge of its own whose budget has one RunJob call: the other requests are queued.
    const slow = await startChildBridge(
      childBridgeEnv(site, {
        JOBBRIDGE_COLLECTION: 'queued-acks',
        JOBBRIDGE_RUNJOB_PER_MINUTE: '1',
        JOBBRIDGE_RUNJOB_BURST: '1',
      }),
    );
    const [topic] = await pubsub.createTopic('queued-acks');
    await topic.createSubscription('queued-acks-push', {
      pushConfig: { pushEndpoint: `${slow.url}/pubsub/push` },
      ackDeadlineSeconds: 10,
    });
    const ids = Array.from({ length: 4 }, (_, i) => `queued-ack-${i}`);
    for (const requestId of ids)
      await topic.publishMessage({ json: jobRequest({ requestId }), attributes: { requestId } });
    const answered = (id: string) =>
      slow.lines().filter((l) => l.requestId === id && l.message === 'push delivery');
    await eventually(
      () => Promise.resolve(ids.every((id) => answered(id).length > 0) ? true : undefined),
      30_000,
      'every message delivered',
    );
    const outcomes = ids.map((id) => answered(id)[0]?.outcome).sort();
    expect(outcomes).toEqual(['dispatched', 'queued', 'queued', 'queued']);
    // An answer the emulator does not take as an ack (it redelivers 202 about once a second) would
    // bring the same message back within this window.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    for (const id of ids) expect(answered(id), id).toHaveLength(1);
    slow.child.kill('SIGTERM');
    await slow.exited;
  });

  it('50 concurrent HTTP deliveries of one request id start exactly one execution', async () => {
    const request = jobRequest();
    const before = (await executions()).length;
    const results = await Promise.all(Array.from({ length: 50 }, () => post(envelope(request))));
    expect(results.filter((r) => r.body.outcome === 'dispatched')).toHaveLength(1);
    for (const r of results) {
      expect(['dispatched', 'in-progress', 'duplicate']).toContain(r.body.outcome);
      expect([201, 409, 200]).toContain(r.status);
    }
    expect((await executions()).length).toBe(before + 1);
  });

  it('on SIGTERM finishes the delivery in flight, then exits 0', async () => {
    emulator.setFaults({ runJobLatencyMs: 800 });
    try {
      const request = jobRequest();
      const inFlight = post(envelope(request));
      // The claim is written: the delivery is in flight, waiting on the slowed RunJob.
      await eventually(async () =>
        (
          await firestore
            .collection('jobs')
            .doc(request.requestId as string)
            .get()
        ).exists
          ? true
          : undefined,
      );
      bridge.child.kill('SIGTERM');
      const res = await inFlight;
      expect(res.status).toBe(201);
      expect(await bridge.exited).toEqual({ code: 0, signal: null });
      expect(bridge.lines().some((l) => l.message === 'in-flight deliveries finished; bye')).toBe(
        true,
      );
    } finally {
      emulator.setFaults({});
    }
  });
});
