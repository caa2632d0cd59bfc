import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_JOB_POLICY, fallbackRequestId } from '../../src/contract/index.ts';
import { killAllChildren, spawnCli } from '../../bench/lib/child-bridge.ts';
import { emulatorHosts } from '../harness/google.ts';
import {
  ALLOWED_JOB,
  startInProcessBridge,
  type InProcessBridge,
} from '../../bench/reliability/inprocess-bridge.ts';
import { envelope } from '../../bench/lib/inprocess-bridge.ts';

/** A value no log line or document may ever contain. */
const SECRET = `s3cret-${randomUUID()}`;

/**
 * The security suite, policy half: what a publisher may ask a job to run. The bridge allows one
 * function, one env name and ten tasks for its job; every request beyond that is refused with
 * the field and the reason, recorded `rejected`, logged once, and nothing is launched.
 */
describe('security: per-job policy, env floor, request ids', () => {
  let bridge: InProcessBridge;

  const push = async (
    data: string,
    attributes: Record<string, string> = {},
    messageId?: string,
  ) => {
    const rawData = Buffer.from(data).toString('base64');
    const res = await bridge.push(envelope(undefined, { rawData, attributes, messageId }));
    return {
      status: res.status,
      outcome: res.body.outcome,
      issues: (res.body.issues as { path: string; reason: string }[] | undefined) ?? [],
    };
  };
  const request = (extra: Record<string, unknown> = {}) => ({
    schemaVersion: 1,
    requestId: `pol-${randomUUID()}`,
    job: ALLOWED_JOB,
    ...extra,
  });
  const logged = (requestId: string) =>
    bridge.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.message === 'push delivery' && l.requestId === requestId);
  const doc = (id: string) => bridge.jobDoc(id);

  /** Refused with `outcome`, recorded rejected, logged once, not launched. */
  async function expectRefused(body: Record<string, unknown>, outcome: string, reason: RegExp) {
    const requestId = body.requestId as string;
    const res = await push(JSON.stringify(body));
    expect(res).toMatchObject({ status: 200, outcome });
    expect(res.issues.map((i) => i.reason).join('\n')).toMatch(reason);
    const stored = await doc(requestId);
    expect(stored?.state).toBe('rejected');
    expect((stored?.error as { code: string }).code).toBe(outcome);
    expect(logged(requestId)).toHaveLength(1);
    expect(logged(requestId)[0]?.outcome).toBe(outcome);
    expect(await bridge.executionRequestIds()).not.toContain(requestId);
  }

  beforeAll(async () => {
    bridge = await startInProcessBridge({
      firestoreHost: emulatorHosts().firestore,
      config: {
        bodyLimitBytes: 4 * 1024 * 1024,
        policies: new Map([
          [
            ALLOWED_JOB,
            { ...DEFAULT_JOB_POLICY, functions: ['simulate'], env: ['MODE'], maxTaskCount: 10 },
          ],
        ]),
      },
    });
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it('raw args on a function-only job → rejected:args, nothing launched', async () => {
    await expectRefused(request({ args: ['echo', 'hi'] }), 'rejected:args', /rawArgs/);
  });

  it('`cancel <id>` smuggled as raw args → rejected:args', async () => {
    await expectRefused(request({ args: ['cancel', 'someone-else'] }), 'rejected:args', /rawArgs/);
  });

  it('`work <function>` smuggled as raw args skips no function check → rejected:args', async () => {
    await expectRefused(request({ args: ['work', 'other-fn'] }), 'rejected:args', /rawArgs/);
  });

  it('a function off the policy list → rejected:function', async () => {
    await expectRefused(request({ function: 'fan-out' }), 'rejected:function', /simulate/);
  });

  it('an env name off the policy list → rejected:env', async () => {
    await expectRefused(request({ env: { OTHER: SECRET } }), 'rejected:env', /policy env: MODE/);
    for (const line of bridge.logLines) expect(line).not.toContain(SECRET);
  });

  it('taskCount over the policy cap → rejected:taskCount', async () => {
    await expectRefused(request({ taskCount: 10_000 }), 'rejected:taskCount', /maxTaskCount/);
  });

  for (const name of [
    'FIRESTORE_EMULATOR_HOST',
    'PUBSUB_EMULATOR_HOST',
    'GCE_METADATA_HOST',
    'GCE_METADATA_IP',
    'HTTPS_PROXY',
    'https_proxy',
    'GCLOUD_PROJECT',
    'LOG_LEVEL',
    'APP_DIR',
    'BASH_ENV',
    'JAVA_TOOL_OPTIONS',
    'PYTHONPATH',
    'PERL5OPT',
  ]) {
    it(`env ${name} → rejected:env even where the policy allows every name (the floor)`, async () => {
      await expectRefused(
        request({ env: { [name]: `attacker:80-${SECRET}` } }),
        'rejected:env',
        /reserved/,
      );
      for (const line of bridge.logLines) expect(line).not.toContain(SECRET);
    });
  }

  it('lone surrogates in the request id → rejected:requestId, never shares a document', async () => {
    // Two ids that a UTF-8 encoder would both turn into U+FFFD.
    for (const id of ['lone-\\ud800', 'lone-\\udc00']) {
      const data = `{"schemaVersion":1,"requestId":"${id}","job":"${ALLOWED_JOB}"}`;
      const res = await push(data, {}, '9001');
      expect(res).toMatchObject({ status: 200, outcome: 'rejected:requestId' });
      expect(res.issues[0]?.reason).toMatch(/lone surrogates/);
    }
    expect(await doc('lone-\ufffd')).toBeUndefined();
    expect((await doc(fallbackRequestId('9001')))?.state).toBe('rejected');
    expect(await bridge.executionRequestIds()).not.toContain(fallbackRequestId('9001'));
  });

  it('lone surrogates in args → rejected:args', async () => {
    const requestId = `pol-${randomUUID()}`;
    const data = `{"schemaVersion":1,"requestId":"${requestId}","job":"${ALLOWED_JOB}","function":"simulate","args":["\\udfff"]}`;
    expect(await push(data)).toMatchObject({ status: 200, outcome: 'rejected:args' });
    expect((await doc(requestId))?.state).toBe('rejected');
  });

  it('a megabyte of unknown keys → recorded rejected once, as a small document', async () => {
    const body: Record<string, unknown> = request();
    for (let i = 0; i < 25_000; i++) body[`k${i}_${'x'.repeat(32)}`] = 1;
    const text = JSON.stringify(body);
    expect(text.length).toBeGreaterThan(1024 * 1024);
    const res = await push(text);
    expect(res).toMatchObject({ status: 200 });
    expect(res.outcome).toMatch(/^rejected:/);
    const stored = await doc(body.requestId as string);
    expect(stored?.state).toBe('rejected');
    expect(JSON.stringify(stored).length).toBeLessThan(16 * 1024);
    expect(logged(body.requestId as string)).toHaveLength(1);
    expect(bridge.logLines.at(-1)?.length ?? 0).toBeLessThan(16 * 1024);
  });

  it('an attribute id that differs from the body id → rejected:requestId', async () => {
    const body = request();
    const squat = `${body.requestId}-other`;
    const res = await push(JSON.stringify(body), { requestId: squat });
    expect(res).toMatchObject({ status: 200, outcome: 'rejected:requestId' });
    expect(await doc(body.requestId)).toBeUndefined();
    expect(await bridge.executionRequestIds()).not.toContain(squat);
  });

  it('an explicit id cannot take the messageId namespace → rejected:requestId', async () => {
    const taken = fallbackRequestId('123');
    const res = await push(JSON.stringify(request({ requestId: taken })), {}, 'ns-1');
    expect(res).toMatchObject({ status: 200, outcome: 'rejected:requestId' });
    expect(res.issues[0]?.reason).toMatch(/reserved for ids made from the Pub\/Sub messageId/);
    // Recorded under the message's own fallback id, never under the one it tried to take.
    expect(await doc(taken)).toBeUndefined();
    expect((await doc(fallbackRequestId('ns-1')))?.state).toBe('rejected');
  });

  it('what the policy allows is dispatched (the refusals above were not luck)', async () => {
    const body = request({
      function: 'simulate',
      args: ['x'],
      env: { MODE: 'fast' },
      taskCount: 10,
    });
    const res = await push(JSON.stringify(body));
    expect(res).toMatchObject({ status: 201, outcome: 'dispatched' });
    expect(await bridge.executionRequestIds()).toContain(body.requestId);
  });

  it('insecure mode with K_SERVICE set (Cloud Run) and real backends: `jobbridge serve` refuses to start', async () => {
    try {
      const run = spawnCli(['serve'], {
        PATH: process.env.PATH,
        GOOGLE_CLOUD_PROJECT: 'p',
        JOBBRIDGE_REGION: 'asia-northeast1',
        JOBBRIDGE_JOBS: ALLOWED_JOB,
        JOBBRIDGE_INSECURE_PUSH: 'true',
        K_SERVICE: 'jobbridge',
        PORT: '0',
      });
      const { code } = await run.exited;
      expect(code).toBe(1);
      expect(run.err()).toMatch(
        /JOBBRIDGE_INSECURE_PUSH:? cannot be true on Cloud Run \(K_SERVICE is set\)/,
      );
    } finally {
      await killAllChildren();
    }
  });
});
