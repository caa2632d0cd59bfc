import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorHosts } from '../harness/google.ts';
import {
  AUDIENCE,
  PUSH_SA,
  pushToken,
  signingKey,
  startCertServer,
  type SigningKey,
} from '../../bench/lib/tokens.ts';
import {
  ALLOWED_JOB,
  startInProcessBridge,
  UNLISTED_JOB,
  type InProcessBridge,
} from '../../bench/reliability/inprocess-bridge.ts';
import { envelope } from '../../bench/lib/inprocess-bridge.ts';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const PUSH_SUBSCRIPTION = 'projects/p/subscriptions/bridge-push';
const DEAD_LETTER_AUDIENCE = 'https://bridge.example.com/pubsub/dead-letter';
const RECONCILE_AUDIENCE = 'https://bridge.example.com/reconcile';
const SCHEDULER_SA = 'scheduler@test-project.iam.gserviceaccount.com';
/** A value no log line or document may ever contain. */
const SECRET = `s3cret-${randomUUID()}`;

/**
 * The security suite: forged or misused push tokens, env-injection attempts and jobs off the
 * allowlist, against an in-process bridge that verifies OIDC exactly as `jobbridge serve` does
 * (pushAuth from config, certificates fetched from JOBBRIDGE_PUSH_CERTS_URL). Every attempt is
 * refused with its documented status, nothing is launched, and the refusal is logged without the
 * token or the env value.
 */
describe('security: refused, not launched, logged without secrets', () => {
  let key: SigningKey;
  let certs: Awaited<ReturnType<typeof startCertServer>>;
  let bridge: InProcessBridge;

  const request = (extra: Record<string, unknown> = {}) => ({
    schemaVersion: 1,
    requestId: `sec-${randomUUID()}`,
    job: ALLOWED_JOB,
    ...extra,
  });
  const push = async (body: unknown, token: string | undefined) => {
    const res = await bridge.push(
      body,
      token !== undefined ? { authorization: `Bearer ${token}` } : {},
    );
    return { status: res.status, outcome: res.body.outcome };
  };
  /** The bridge's log line for the delivery of `requestId` (or the last one with `outcome`). */
  const logged = (outcome: string, requestId?: string) =>
    bridge.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.message === 'push delivery' && l.outcome === outcome)
      .filter((l) => requestId === undefined || l.requestId === requestId);
  const doc = (id: string) => bridge.jobDoc(id);

  beforeAll(async () => {
    key = signingKey('push-key');
    certs = await startCertServer([key]);
    bridge = await startInProcessBridge({
      firestoreHost: emulatorHosts().firestore,
      pushAuth: {
        mode: 'oidc',
        audience: AUDIENCE,
        serviceAccount: PUSH_SA,
        certsUrl: certs.url,
        deadLetter: { audience: DEAD_LETTER_AUDIENCE, serviceAccount: PUSH_SA },
        reconcile: { audience: RECONCILE_AUDIENCE, serviceAccount: SCHEDULER_SA },
      },
      config: {
        subscriptions: {
          push: new Set([PUSH_SUBSCRIPTION]),
          deadLetter: new Set(['projects/p/subscriptions/bridge-dead-letter']),
        },
      },
    });
  });
  afterAll(async () => {
    await bridge?.close();
    await certs?.close();
  });

  describe('push tokens', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: [string, () => string, string, number][] = [
      [
        'an expired token (replayed an hour later)',
        () => pushToken(key, { iat: now() - 7200, exp: now() - 3600 }),
        'auth:expired',
        401,
      ],
      [
        'a token for another audience',
        () => pushToken(key, { aud: 'https://other-service.example.com/push' }),
        'auth:wrong-audience',
        401,
      ],
      [
        'a token signed by a key the issuer never published',
        () => pushToken(signingKey('push-key-2'), {}),
        'auth:unknown-key',
        401,
      ],
      [
        'a token with alg none and no signature',
        () =>
          `${b64url({ alg: 'none', typ: 'JWT', kid: key.kid })}.${b64url({
            iss: 'https://accounts.google.com',
            aud: AUDIENCE,
            email: PUSH_SA,
            email_verified: true,
            iat: now(),
            exp: now() + 3600,
          })}.`,
        'auth:invalid-token',
        401,
      ],
      [
        'a token with alg none whose signature was kept from a real one',
        () => {
          const real = pushToken(key);
          const [, payload, signature] = real.split('.');
          return `${b64url({ alg: 'none', typ: 'JWT', kid: key.kid })}.${payload}.${signature}`;
        },
        'auth:invalid-token',
        401,
      ],
      [
        'a real token for another service account',
        () => pushToken(key, { email: 'attacker@evil.iam.gserviceaccount.com' }),
        'auth:wrong-service-account',
        403,
      ],
    ];
    for (const [what, token, expected, status] of cases) {
      it(`${what} → ${expected} ${status}, nothing written or launched, logged without the token`, async () => {
        const jwt = token();
        const body = request();
        const requestId = body.requestId;
        // Sent twice: a replay gets the same refusal.
        for (let i = 0; i < 2; i++) {
          expect(await push(envelope(body), jwt)).toEqual({ status, outcome: expected });
        }
        expect(await doc(requestId)).toBeUndefined();
        expect(await bridge.executionRequestIds()).not.toContain(requestId);
        expect(logged(expected).length).toBeGreaterThanOrEqual(2);
        const signature = jwt.split('.')[2] ?? '';
        for (const line of bridge.logLines) {
          expect(line).not.toContain(jwt);
          if (signature.length > 10) expect(line).not.toContain(signature);
        }
      });
    }

    it('the same request with a valid token is dispatched (the refusals above were not luck)', async () => {
      const body = request();
      expect(await push(envelope(body), pushToken(key))).toEqual({
        status: 201,
        outcome: 'dispatched',
      });
      expect(await bridge.executionRequestIds()).toContain(body.requestId);
    });
  });

  describe('env injection', () => {
    const attempts: [string, string][] = [
      ['NODE_OPTIONS', `--require /tmp/${SECRET}.js`],
      ['node_options', `--require /tmp/${SECRET}.js`],
      ['Node_Options', SECRET],
      ['LD_PRELOAD', `/tmp/${SECRET}.so`],
      ['ld_preload', `/tmp/${SECRET}.so`],
      ['LD_LIBRARY_PATH', SECRET],
      ['JOBBRIDGE_REQUEST_ID', SECRET],
      ['JOBBRIDGE_JOB_ID', SECRET],
      ['jobbridge_max_retries', SECRET],
      ['GOOGLE_APPLICATION_CREDENTIALS', SECRET],
      ['CLOUD_RUN_TASK_INDEX', SECRET],
      ['PATH', SECRET],
      ['MODE=x NODE_OPTIONS', SECRET],
      ['A=B', SECRET],
      ['MODE\nNODE_OPTIONS', SECRET],
      ['MODE\r\nLD_PRELOAD', SECRET],
      [' NODE_OPTIONS', SECRET],
      ['__proto__', SECRET],
      ['MODE', `fast\u0000${SECRET}`],
    ];
    for (const [envName, envValue] of attempts) {
      const name = JSON.stringify(envName);
      it(`env ${name} → rejected:env 200, recorded rejected without the value, nothing launched`, async () => {
        const body = request();
        // JSON text written by hand so that a `__proto__` key stays an own key.
        const data = `{"schemaVersion":1,"requestId":${JSON.stringify(body.requestId)},"job":"${ALLOWED_JOB}","env":{${JSON.stringify(envName)}:${JSON.stringify(envValue)}}}`;
        const raw = {
          message: { data: Buffer.from(data).toString('base64'), messageId: '42' },
          subscription: PUSH_SUBSCRIPTION,
        };
        const res = await push(raw, pushToken(key));
        expect(res.status).toBe(200);
        expect(res.outcome).toMatch(/^rejected:(env|__proto__)/);
        const stored = await doc(body.requestId);
        expect(stored?.state).toBe('rejected');
        expect(JSON.stringify(stored)).not.toContain(SECRET);
        expect(await bridge.executionRequestIds()).not.toContain(body.requestId);
        expect(logged(res.outcome, body.requestId)).toHaveLength(1);
        for (const line of bridge.logLines) expect(line).not.toContain(SECRET);
      });
    }

    it('a value with a newline is one variable, never a second one', async () => {
      const body = request({ env: { MODE: `fast\nNODE_OPTIONS=--require /tmp/x.js` } });
      expect(await push(envelope(body), pushToken(key))).toEqual({
        status: 201,
        outcome: 'dispatched',
      });
      const [list] = await bridge.run.executions.listExecutions({
        parent: `projects/${bridge.projectId}/locations/asia-northeast1/jobs/${ALLOWED_JOB}`,
      });
      const execution = list.find((e) =>
        e.template?.containers?.[0]?.env?.some((v) => v.value === body.requestId),
      );
      const env = execution?.template?.containers?.[0]?.env ?? [];
      expect(env.filter((v) => v.name === 'MODE').map((v) => v.value)).toEqual([
        'fast\nNODE_OPTIONS=--require /tmp/x.js',
      ]);
      expect(env.some((v) => v.name === 'NODE_OPTIONS')).toBe(false);
    });
  });

  describe('allowlist', () => {
    for (const job of [UNLISTED_JOB, 'ghost-job', 'bridge-job-2', 'BRIDGE-JOB']) {
      it(`job ${job} (not on JOBBRIDGE_JOBS) → rejected:job 200, recorded, nothing launched`, async () => {
        const body = request({ job });
        expect(await push(envelope(body), pushToken(key))).toEqual({
          status: 200,
          outcome: 'rejected:job',
        });
        expect((await doc(body.requestId))?.state).toBe('rejected');
        expect(logged('rejected:job', body.requestId)).toHaveLength(1);
        expect(await bridge.executionRequestIds(UNLISTED_JOB)).toEqual([]);
      });
    }
  });

  describe('routes and subscriptions', () => {
    const post = async (url: string, body: unknown, token: string) => {
      const res = await bridge.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        payload: JSON.stringify(body),
      });
      return { status: res.statusCode, outcome: res.json<{ outcome: string }>().outcome };
    };

    it('an envelope from an unexpected subscription → 403, nothing recorded or launched, logged', async () => {
      const body = request();
      const forged = { ...envelope(body), subscription: 'projects/attacker/subscriptions/mine' };
      expect(await post('/pubsub/push', forged, pushToken(key))).toEqual({
        status: 403,
        outcome: 'auth:unexpected-subscription',
      });
      const { subscription: _s, ...none } = envelope(body);
      expect(await post('/pubsub/push', none, pushToken(key))).toEqual({
        status: 403,
        outcome: 'auth:unexpected-subscription',
      });
      expect(await doc(body.requestId)).toBeUndefined();
      expect(await bridge.executionRequestIds()).not.toContain(body.requestId);
      const lines = logged('auth:unexpected-subscription');
      expect(lines.some((l) => l.subscription === 'projects/attacker/subscriptions/mine')).toBe(
        true,
      );
    });

    it('a push token does not open /reconcile or /pubsub/dead-letter (each route its own audience)', async () => {
      expect(await post('/reconcile', {}, pushToken(key))).toEqual({
        status: 401,
        outcome: 'auth:wrong-audience',
      });
      expect(await post('/pubsub/dead-letter', envelope(request()), pushToken(key))).toEqual({
        status: 401,
        outcome: 'auth:wrong-audience',
      });
      // The scheduler's own token does; a push service account with the reconcile audience not.
      const scheduler = pushToken(key, { aud: RECONCILE_AUDIENCE, email: SCHEDULER_SA });
      expect((await post('/reconcile', {}, scheduler)).status).toBe(200);
      expect(await post('/reconcile', {}, pushToken(key, { aud: RECONCILE_AUDIENCE }))).toEqual({
        status: 403,
        outcome: 'auth:wrong-service-account',
      });
    });

    it('a dead letter from an unexpected subscription → 403, nothing recorded', async () => {
      const body = request();
      const token = pushToken(key, { aud: DEAD_LETTER_AUDIENCE });
      const forged = { ...envelope(body), subscription: 'projects/attacker/subscriptions/dl' };
      expect(await post('/pubsub/dead-letter', forged, token)).toEqual({
        status: 403,
        outcome: 'auth:unexpected-subscription',
      });
      expect(await doc(body.requestId)).toBeUndefined();
    });

    it('/healthz shows the auth mode', async () => {
      const res = await bridge.app.inject({ method: 'GET', url: '/healthz' });
      expect(res.json()).toEqual({ status: 'ok', pushAuth: 'oidc' });
    });
  });
});
