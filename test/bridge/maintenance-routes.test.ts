import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOidcVerifier } from '../../src/bridge/push-auth.ts';
import { DEAD_LETTER_ATTRIBUTES } from '../../src/bridge/dead-letter.ts';
import { envelope, eventually, jobRequest, JOB, startRig, type Rig } from './rig.ts';
import {
  AUDIENCE,
  PUSH_SA,
  pushToken,
  signingKey,
  startCertServer,
} from '../../bench/lib/tokens.ts';

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
      verifier: createOidcVerifier({
        audience: AUDIENCE,
        serviceAccount: PUSH_SA,
        certsUrl: certs.url,
      }),
      reconcile: RECONCILE_NOW,
    });
  });
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

  it('a dead letter for a request never claimed is recorded failed, dead-lettered', async () => {
    const request = jobRequest();
    const dead = await post(
      '/pubsub/dead-letter',
      envelope(request, { attributes: { [DEAD_LETTER_ATTRIBUTES.deliveryCount]: '10' } }),
      bearer(),
    );
    expect(dead.status).toBe(201);
    expect(await rig.jobDoc(request.requestId as string)).toMatchObject({
      state: 'failed',
      error: { code: 'dead-lettered' },
    });
    expect(await rig.executions()).toHaveLength(0);
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
});
