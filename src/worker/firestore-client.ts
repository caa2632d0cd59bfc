import { Firestore, type Settings } from '@google-cloud/firestore';
import { OAuth2Client } from 'google-auth-library';

/**
 * The worker's Firestore client, created once by `jobbridge work` and passed down (this module
 * is imported lazily, so only `work` pays for loading it).
 *
 * `preferRest: true`: the worker never listens (`onSnapshot` is the only call that needs gRPC),
 * and HTTP/1.1 REST skips building gRPC channels and loading the gRPC protos on the first
 * call — about 80 ms of every task's cold start (docs/internals.md, "Cold start").
 *
 * Under `FIRESTORE_EMULATOR_HOST` the REST transport still asks google-auth for credentials
 * (the gRPC transport does not), so it is handed a fixed `Bearer owner` token, the header the
 * client itself sends to the emulator over gRPC; nothing is looked up.
 */
export function createWorkerFirestore(input: {
  projectId: string | undefined;
  emulatorHost: string | undefined;
}): Firestore {
  const settings: Settings = { preferRest: true };
  if (input.projectId) settings.projectId = input.projectId;
  if (input.emulatorHost) {
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: 'owner' });
    settings.authClient = authClient;
    settings.host = input.emulatorHost;
    settings.ssl = false;
  }
  return new Firestore(settings);
}
