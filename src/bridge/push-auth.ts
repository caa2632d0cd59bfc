import { OAuth2Client } from 'google-auth-library';
import type { AuthOutcome } from '../errors/outcomes.ts';
import { VerifiedTokens } from './verified-tokens.ts';
import { errorMessage } from '../errors/coerce.ts';

/** Checks the `Authorization` header of a push request. */
export interface PushVerifier {
  /** Undefined when the request may proceed, else the auth outcome to answer with. */
  verify(authorization: string | undefined): Promise<AuthOutcome | undefined>;
}

export interface OidcVerifierOptions {
  audience: string;
  serviceAccount: string;
  /** PEM certificate set (kid → PEM) URL; Google's unless a test serves its own. */
  certsUrl: string;
  /** A client to reuse (it caches the certificates per their Cache-Control). */
  client?: OAuth2Client;
  /** Tokens already verified (tests pass their own to watch it or to move its clock). */
  verified?: VerifiedTokens;
}

/**
 * google-auth-library reports every verification failure as a plain Error with a message, no
 * code; this is the one place that reads those messages, so a library change breaks one test
 * here rather than silently turning a bad token into a different status.
 */
function classifyVerifyError(err: unknown): AuthOutcome {
  const message = errorMessage(err);
  if (message.startsWith('Failed to retrieve verification certificates')) {
    return 'auth:certs-unavailable';
  }
  if (message.startsWith('No pem found')) return 'auth:unknown-key';
  if (message.startsWith('Token used too late') || message.startsWith('Token used too early')) {
    return 'auth:expired';
  }
  if (message.startsWith('Wrong recipient')) return 'auth:wrong-audience';
  if (message.startsWith('Invalid issuer')) return 'auth:wrong-issuer';
  return 'auth:invalid-token';
}

/**
 * Verifies Pub/Sub push OIDC tokens with google-auth-library's `verifyIdToken` (signature against
 * the issuer's key set, audience, issuer, expiry), then the claims Pub/Sub adds: `email` must be
 * the push service account and `email_verified` true. The token itself is never logged: the
 * library's error messages contain it, so only the classified outcome leaves this function.
 * A token that passed is remembered until its `exp` (see VerifiedTokens): Pub/Sub sends the same
 * token with many pushes, and its signature need not be checked again.
 */
export function createOidcVerifier(options: OidcVerifierOptions): PushVerifier {
  const client =
    options.client ??
    new OAuth2Client({ endpoints: { oauth2FederatedSignonPemCertsUrl: options.certsUrl } });
  const verified = options.verified ?? new VerifiedTokens();
  return {
    async verify(authorization) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      const idToken = match?.[1];
      if (idToken === undefined) return 'auth:missing-token';
      if (verified.has(idToken)) return undefined;
      let payload;
      try {
        const ticket = await client.verifyIdToken({ idToken, audience: options.audience });
        payload = ticket.getPayload();
      } catch (err: unknown) {
        return classifyVerifyError(err);
      }
      if (payload?.email !== options.serviceAccount || payload.email_verified !== true) {
        return 'auth:wrong-service-account';
      }
      verified.add(idToken, payload.exp);
      return undefined;
    },
  };
}

/** Accepts every request: only with JOBBRIDGE_INSECURE_PUSH=true (warned about at start). */
export function insecureVerifier(): PushVerifier {
  return { verify: () => Promise.resolve(undefined) };
}

/** Whether an envelope's subscription is one the route expects (any, when none are set). */
export function expectedSubscription(
  expected: ReadonlySet<string> | undefined,
  subscription: string | undefined,
): boolean {
  return expected === undefined || (subscription !== undefined && expected.has(subscription));
}
