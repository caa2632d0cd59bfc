import type { Firestore } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRunEmulator, type StartedRunEmulator } from '../../src/emulator/index.ts';
import { createRunClients, executionEnv, type RunClients } from '../../src/launcher/index.ts';
import { emulatorHosts, testFirestore, testProjectId } from '../harness/google.ts';
import {
  killAllChildren,
  startChildBridge,
  type ChildBridge,
  childBridgeEnv,
} from '../../bench/lib/child-bridge.ts';
import { startCrashingBridge } from './crash-after.ts';
import { envelope, eventually, JOB, jobRequest, REGION } from './rig.ts';
import { BRIDGE_EXECUTION_ENV } from '../../src/contract/index.ts';

// Long enough that, on a loaded 2-core machine, the first redelivery still finds the dead
// bridge's lease live (the test asserts that refusal); short enough to wait out.
const LEASE_MS = 6000;

describe('crash safety: a bridge SIGKILLed mid-delivery, then a redelivery after the lease', () => {
  const projectId = testProjectId('bridge-crash');
  let firestore: Firestore;
  let emulator: StartedRunEmulator;
  let run: RunClients;
  let survivor: ChildBridge;

  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
    childBridgeEnv(
      {
        projectId,
        region: REGION,
        jobs: JOB,
        firestoreHost: emulatorHosts().firestore,
        cloudRunHost: emulator.host,
      },
      { JOBBRIDGE_LEASE_MS: String(LEASE_MS), JOBBRIDGE_BUDGET_MS: '2000', ...extra },
    );
  const executionsOf = async (requestId: string) => {
    const [list] = await run.executions.listExecutions({
      parent: `projects/${projectId}/locations/${REGION}/jobs/${JOB}`,
    });
    return list.filter((e) => executionEnv(e)[BRIDGE_EXECUTION_ENV.requestId] === requestId);
  };
  const post = async (url: string, body: unknown) => {
    const res = await fetch(`${url}/pubsub/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, outcome: ((await res.json()) as { outcome: string }).outcome };
  };

  beforeAll(async () => {
    firestore = testFirestore(projectId);
    emulator = await startRunEmulator({
      jobs: { jobs: { [JOB]: { command: ['/bin/true'] } } },
      log: () => {},
    });
    run = createRunClients({ emulatorHost: emulator.host, projectId });
    survivor = await startChildBridge(env());
  });
  afterAll(async () => {
    await killAllChildren();
    await run?.close();
    await emulator?.stop();
    await firestore?.terminate();
  });

  // Killed right after the claim is stored (nothing started yet), and right after RunJob was
  // accepted (its execution not yet recorded).
  for (const [fault, crashAfter, expected] of [
    ['after-claim', 'repository.claim', 'dispatched'],
    ['after-launch', 'launcher.launch', 'adopted'],
  ] as const) {
    it(`killed ${fault}: the redelivery after lease expiry ends with one execution, dispatched`, async () => {
      const crashing = await startCrashingBridge(env(), [crashAfter]);
      const request = jobRequest();
      const requestId = request.requestId as string;
      const body = envelope(request);
      // Its first Firestore call opens the channel: done before the delivery, so that the
      // claim fits the delivery's budget on a loaded machine too. The probe gives Firestore 2 s,
      // which a first connection can take longer than at load 20: asked again until ready.
      await eventually(
        async () => ((await fetch(`${crashing.url}/readyz`)).status === 200 ? true : undefined),
        30_000,
        'the crashing bridge to reach Firestore',
      );
      await expect(post(crashing.url, body)).rejects.toThrow();
      expect(await crashing.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect((await firestore.collection('jobs').doc(requestId).get()).data()?.state).toBe(
        'dispatching',
      );
      expect(await executionsOf(requestId)).toHaveLength(fault === 'after-claim' ? 0 : 1);

      // Pub/Sub redelivers to another instance: refused while the dead one's lease is live,
      // taken over once it expires.
      const outcomes: string[] = [];
      const final = await eventually(
        async () => {
          const res = await post(survivor.url, body);
          outcomes.push(res.outcome);
          return res.status === 409 ? undefined : res;
        },
        LEASE_MS + 10_000,
        'the lease to expire',
      );
      expect(final).toEqual({ status: 201, outcome: expected });
      expect(outcomes[0]).toBe('in-progress');

      const executions = await executionsOf(requestId);
      expect(executions).toHaveLength(1);
      const doc = (await firestore.collection('jobs').doc(requestId).get()).data();
      expect(doc?.state).toBe('dispatched');
      expect(doc?.dispatch).toMatchObject({
        executionName: executions[0]?.name,
        attempts: 2,
        adopted: fault === 'after-launch',
      });
      expect(await post(survivor.url, body)).toEqual({ status: 200, outcome: 'duplicate' });
    });
  }
});
