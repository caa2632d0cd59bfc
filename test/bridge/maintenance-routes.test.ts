import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEAD_LETTER_ATTRIBUTES } from '../../src/bridge/dead-letter.ts';
import { envelope, eventually, jobRequest, JOB, startRig, testVerifier, type Rig } from './rig.ts';
import { pushToken, signingKey, startCertServer } from '../../bench/lib/tokens.ts';
import { executionEnv } from '../../src/launcher/index.ts';
import { BRIDGE_EXECUTION_ENV } from '../../src/contract/index.ts';

/** Everything is stale at once: the pass acts on what it finds. */
const RECONCILE_NOW = {
  staleAfterMs: 0,
  leaseGraceMs: 0,
  heartbeatStaleMs: 0,
  pageSize: 50,
  maxPages: 5,
};

describe('the bridge’s maintenance routes: /pubsub/dead-letter and /reconcile', () => {
  const trusted = signingKey('maintenance-key');
  let certs: Awaited<ReturnType<typeof startCertServer>>;
  let rig: Rig;
  const bearer = () => ({ authorization: `Bearer ${pushToken(trusted)}` });
  const post = async (url: string, payload: unknown, headers: Record<string, string> = {}) => {
    const res = await rig.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...headers },
      payload: JSON.stringify(payload),
    });
    return { status: res.statusCode, body: res.json<Record<string, unknown>>() };
  };

  beforeAll(async () => {
    certs = await startCertServer([trusted]);
    rig = await startRig({
      verifier: testVerifier(certs.url),
      reconcile: RECONCILE_NOW,
    });
  });
  const executionsOf = async (requestId: string) =>
    (await rig.executions(JOB)).filter(
      (e) => executionEnv(e)[BRIDGE_EXECUTION_ENV.requestId] === requestId,
    ).length;
  afterAll(async () => {
    await rig?.close();
    await certs?.close();
  });

  it('both routes refuse a call without a valid token and do nothing', async () => {
    const request = jobRequest();
    const dead = await post('/pubsub/dead-letter', envelope(request));
    expect(dead).toEqual({ status: 401, body: { outcome: 'auth:missing-token' } });
    expect(await rig.jobDoc(request.requestId as string)).toBeUndefined();
    const reconcile = await post('/reconcile', {}, { authorization: 'Bearer not-a-token' });
    expect(reconcile).toEqual({ status: 401, body: { outcome: 'auth:invalid-token' } });
  });

  it('/reconcile writes the end of an execution no worker reported on', async () => {
    const request = jobRequest();
    const pushed = await rig.push(envelope(request), bearer());
    expect(pushed.body.outcome).toBe('dispatched');
    // The job's command is /bin/true: the execution ends at once, and no worker writes anything.
    await eventually(async () => {
      const [execution] = await rig.executions(JOB);
      return execution?.completionTime ? true : undefined;
    });
    expect((await rig.jobDoc(request.requestId as string))?.state).toBe('dispatched');
    const pass = await post('/reconcile', {}, bearer());
    expect(pass.status).toBe(200);
    expect(pass.body).toMatchObject({ actions: { succeeded: 1 } });
    expect(await rig.jobDoc(request.requestId as string)).toMatchObject({
      state: 'succeeded',
      tasks: { succeeded: 1, failed: 0 },
    });
    // Nothing stale is left: the next pass changes nothing.
    const again = await post('/reconcile', {}, bearer());
    expect(again.body.actions).not.toHaveProperty('succeeded');
  });

  it('a dead letter of a valid request nobody admitted is admitted as a push is: it runs once', async () => {
    // Another subscription's bridge, or a later delivery, would have admitted it: failing it
    // here would lose a request that was only late.
    const request = jobRequest();
    const attributes = { [DEAD_LETTER_ATTRIBUTES.deliveryCount]: '10' };
    const dead = await post('/pubsub/dead-letter', envelope(request, { attributes }), bearer());
    expect(dead).toEqual({
      status: 201,
      body: { outcome: 'admitted', requestId: request.requestId },
    });
    expect((await rig.jobDoc(request.requestId as string))?.state).toBe('dispatched');
    // The same dead letter again (from a second subscription, or redelivered): nothing new runs.
    const again = await post('/pubsub/dead-letter', envelope(request, { attributes }), bearer());
    expect(again.body.outcome).toBe('already-handled');
    const pushed = await rig.push(envelope(request), bearer());
    expect(pushed.body.outcome).toBe('duplicate');
    expect(await executionsOf(request.requestId as string)).toBe(1);
  });

  it('a dead letter of an invalid request is recorded rejected, as its first delivery would be', async () => {
    const request = jobRequest({ job: 'not-on-the-allowlist' });
    const attributes = { [DEAD_LETTER_ATTRIBUTES.deliveryCount]: '10' };
    const dead = await post('/pubsub/dead-letter', envelope(request, { attributes }), bearer());
    expect(dead).toEqual({
      status: 200,
      body: { outcome: 'rejected', requestId: request.requestId },
    });
    expect(await rig.jobDoc(request.requestId as string)).toMatchObject({ state: 'rejected' });
    expect(await executionsOf(request.requestId as string)).toBe(0);
  });

  it('a dead letter keyed by its own message id is recorded failed, dead-lettered: it may have run', async () => {
    // Without a request id, the original was keyed by a message id the dead letter no longer has.
    const { requestId: _none, ...request } = jobRequest();
    const attributes = { [DEAD_LETTER_ATTRIBUTES.deliveryCount]: '10' };
    const dead = await post(
      '/pubsub/dead-letter',
      envelope(request, { attributes, messageId: 'dead-letter-own-id' }),
      bearer(),
    );
    expect(dead.status).toBe(201);
    expect(dead.body.outcome).toBe('recorded');
    expect(await rig.jobDoc(dead.body.requestId as string)).toMatchObject({
      state: 'failed',
      error: { code: 'dead-lettered' },
    });
    expect(await executionsOf(dead.body.requestId as string)).toBe(0);
  });
});
