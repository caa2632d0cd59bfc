import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { VerifiedTokens } from '../../src/bridge/verified-tokens.ts';
import { testVerifier } from './rig.ts';
import { pushToken, signingKey, startCertServer } from '../../bench/lib/tokens.ts';

describe('verified push tokens are remembered until they expire', () => {
  const key = signingKey('cache-key');
  let certs: Awaited<ReturnType<typeof startCertServer>>;
  beforeAll(async () => {
    certs = await startCertServer([key]);
  });
  afterAll(() => certs?.close());

  /** A verifier over a real OAuth2Client whose verifyIdToken calls are counted. */
  function verifier(verified: VerifiedTokens) {
    const client = new OAuth2Client({
      endpoints: { oauth2FederatedSignonPemCertsUrl: certs.url },
    });
    const calls = vi.spyOn(client, 'verifyIdToken');
    const v = testVerifier(certs.url, { client, verified });
    return { verify: (token: string) => v.verify(`Bearer ${token}`), calls };
  }

  it('verifies a token in full once, then accepts the same token without verifying again', async () => {
    const { verify, calls } = verifier(new VerifiedTokens());
    const token = pushToken(key);
    expect(await verify(token)).toBeUndefined();
    expect(await verify(token)).toBeUndefined();
    expect(calls).toHaveBeenCalledTimes(1);
    // A different token (same key, same claims but a new iat) is verified on its own.
    expect(await verify(pushToken(key, { iat: Math.floor(Date.now() / 1000) - 5 }))).toBe(
      undefined,
    );
    expect(calls).toHaveBeenCalledTimes(2);
  });

  it('never remembers a refused token', async () => {
    const { verify, calls } = verifier(new VerifiedTokens());
    const wrongAccount = pushToken(key, { email: 'other@x.iam.gserviceaccount.com' });
    const wrongAudience = pushToken(key, { aud: 'https://elsewhere.example.com' });
    for (let i = 0; i < 2; i++) {
      expect(await verify(wrongAccount)).toBe('auth:wrong-service-account');
      expect(await verify(wrongAudience)).toBe('auth:wrong-audience');
    }
    expect(calls).toHaveBeenCalledTimes(4);
  });

  it('forgets a token at its exp, so the library decides again', async () => {
    let now = Date.now();
    const { verify, calls } = verifier(new VerifiedTokens({ now: () => now }));
    const exp = Math.floor(now / 1000) + 600;
    const token = pushToken(key, { exp });
    expect(await verify(token)).toBeUndefined();
    now = exp * 1000 - 1;
    expect(await verify(token)).toBeUndefined();
    expect(calls).toHaveBeenCalledTimes(1);
    now = exp * 1000;
    expect(await verify(token)).toBeUndefined(); // the library's own clock still says valid
    expect(calls).toHaveBeenCalledTimes(2);
  });

  it('holds at most maxEntries tokens, evicting the oldest', () => {
    const verified = new VerifiedTokens({ maxEntries: 2 });
    const exp = Math.floor(Date.now() / 1000) + 600;
    verified.add('a', exp);
    verified.add('b', exp);
    verified.add('c', exp);
    expect(verified.size).toBe(2);
    expect(verified.has('a')).toBe(false);
    expect(verified.has('b')).toBe(true);
    expect(verified.has('c')).toBe(true);
    verified.add('d', undefined); // no exp claim: never remembered
    expect(verified.has('d')).toBe(false);
  });
});
