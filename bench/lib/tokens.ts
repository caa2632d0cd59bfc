import { createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const AUDIENCE = 'https://bridge.example.com/pubsub/push';
export const PUSH_SA = 'pubsub-push@test-project.iam.gserviceaccount.com';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicPem: string;
}

export function signingKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    kid,
    privateKey,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An RS256 token shaped like the one Pub/Sub push sends, with `claims` over the defaults. */
export function pushToken(key: SigningKey, claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: 'https://accounts.google.com',
    aud: AUDIENCE,
    sub: '1234567890',
    email: PUSH_SA,
    email_verified: true,
    iat: now,
    exp: now + 3600,
    ...claims,
  };
  const signed = `${b64url({ alg: 'RS256', typ: 'JWT', kid: key.kid })}.${b64url(payload)}`;
  const signature = createSign('RSA-SHA256')
    .update(signed)
    .sign(key.privateKey)
    .toString('base64url');
  return `${signed}.${signature}`;
}

/** Serves `{kid: pem}` the way Google's v1 certs endpoint does, for the verifier to fetch. */
export async function startCertServer(
  keys: SigningKey[],
): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const body = JSON.stringify(Object.fromEntries(keys.map((k) => [k.kid, k.publicPem])));
  const server: Server = createServer((_req, res) => {
    hits++;
    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'public, max-age=3600',
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/oauth2/v1/certs`,
    hits: () => hits,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
