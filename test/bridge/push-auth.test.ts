import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, jobRequest, startRig, testVerifier, type Rig } from './rig.ts';
import { pushToken, signingKey, startCertServer } from '../../bench/lib/tokens.ts';

describe('push OIDC verification through google-auth-library, over inject()', () => {
  const trusted = signingKey('trusted-key');
  // Same kid as the trusted key, different key: a forged signature.
  const forger = { ...signingKey('trusted-key') };
  const stranger = signingKey('unknown-key');
  let certs: Awaited<ReturnType<typeof startCertServer>>;
  let rig: Rig;

  beforeAll(async () => {
    certs = await startCertServer([trusted]);
    rig = await startRig({
      verifier: testVerifier(certs.url),
    });
  });
  afterAll(async () => {
    await rig?.close();
    await certs?.close();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('accepts a valid token and dispatches; the certificates are fetched once and cached', async () => {
    const first = await rig.push(envelope(jobRequest()), bearer(pushToken(trusted)));
    expect(first).toMatchObject({ status: 201, body: { outcome: 'dispatched' } });
    const second = await rig.push(envelope(jobRequest()), bearer(pushToken(trusted)));
    expect(second.status).toBe(201);
    expect(certs.hits()).toBe(1);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const cases: [string, () => Record<string, string>, number, string][] = [
    ['a missing token', () => ({}), 401, 'auth:missing-token'],
    [
      'a non-bearer header',
      () => ({ authorization: 'Basic dXNlcjpwYXNz' }),
      401,
      'auth:missing-token',
    ],
    ['a malformed token', () => bearer('not.a-jwt'), 401, 'auth:invalid-token'],
    [
      'an expired token',
      () => bearer(pushToken(trusted, { iat: now() - 7200, exp: now() - 3600 })),
      401,
      'auth:expired',
    ],
    [
      'the wrong audience',
      () => bearer(pushToken(trusted, { aud: 'https://other.example.com' })),
      401,
      'auth:wrong-audience',
    ],
    [
      'the wrong issuer',
      () => bearer(pushToken(trusted, { iss: 'https://evil.example.com' })),
      401,
      'auth:wrong-issuer',
    ],
    [
      'the wrong service account',
      () => bearer(pushToken(trusted, { email: 'someone@else.iam.gserviceaccount.com' })),
      403,
      'auth:wrong-service-account',
    ],
    [
      'an unverified email',
      () => bearer(pushToken(trusted, { email_verified: false })),
      403,
      'auth:wrong-service-account',
    ],
    [
      'a token signed by an unknown key',
      () => bearer(pushToken(stranger)),
      401,
      'auth:unknown-key',
    ],
    [
      'a forged signature under a known key id',
      () => bearer(pushToken(forger)),
      401,
      'auth:invalid-token',
    ],
  ];
  for (const [what, headers, status, reason] of cases) {
    it(`refuses ${what} with ${status} ${reason}, starting nothing`, async () => {
      const request = jobRequest();
      const res = await rig.push(envelope(request), headers());
      expect(res).toMatchObject({ status, body: { outcome: reason } });
      expect(await rig.jobDoc(request.requestId as string)).toBeUndefined();
    });
  }

  it('never logs a token, and logs one line per refused delivery', async () => {
    const token = pushToken(trusted, { aud: 'https://other.example.com' });
    const before = rig.logLines.length;
    await rig.push(envelope(jobRequest()), bearer(token));
    const lines = rig.logLines.slice(before);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      outcome: 'auth:wrong-audience',
      status: 401,
      severity: 'WARNING',
    });
    const signature = token.split('.')[2]!;
    expect(rig.logLines.join('\n')).not.toContain(signature);
  });

  it('answers 503 when the signing certificates cannot be fetched', async () => {
    const verifier = testVerifier('http://127.0.0.1:9/certs');
    expect(await verifier.verify(`Bearer ${pushToken(trusted)}`)).toBe('auth:certs-unavailable');
  });
});
