import { Firestore, type Settings } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';

/**
 * The one place the Firestore and Pub/Sub clients are created; callers pass in what their config
 * read from the environment (src/config), emulator hosts included: nothing here reads the
 * environment itself.
 */
export interface ClientTarget {
  /** Project id; the client's own discovery (credentials, metadata server) when omitted. */
  projectId?: string | undefined;
  /** `host:port` of the official emulator, when the environment names one. */
  emulatorHost?: string | undefined;
}

/**
 * On an emulator, naming the universe keeps google-auth-library from probing for a GCE metadata
 * server: without it every process prints a MetadataLookupWarning and waits for the probe.
 */
const EMULATOR_SETTINGS = { universeDomain: 'googleapis.com' } as const;

/** A Firestore client (gRPC) for Google, or for the emulator named in `target`. */
export function createFirestore(target: ClientTarget, settings: Settings = {}): Firestore {
  return new Firestore({
    ...(target.projectId ? { projectId: target.projectId } : {}),
    // The host is given too, not left to FIRESTORE_EMULATOR_HOST: a process may talk to an
    // emulator its own environment does not name (the dev stack's dashboard).
    ...(target.emulatorHost ? { ...EMULATOR_SETTINGS, host: target.emulatorHost, ssl: false } : {}),
    ...settings,
  });
}

/** A Pub/Sub client for Google, or for the emulator named in `target` (plaintext gRPC). */
export function createPubSub(target: ClientTarget): PubSub {
  return new PubSub({
    ...(target.projectId ? { projectId: target.projectId } : {}),
    ...(target.emulatorHost
      ? { ...EMULATOR_SETTINGS, apiEndpoint: target.emulatorHost, emulatorMode: true }
      : {}),
  });
}
