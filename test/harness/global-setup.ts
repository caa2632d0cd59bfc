import type { TestProject } from 'vitest/node';
import { startGoogleEmulators } from '../../src/devstack/google-emulators.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pubsubHost: string;
    firestoreHost: string;
  }
}

/**
 * Starts the official Pub/Sub and Firestore emulators once per test run. A missing gcloud,
 * Java or emulator component fails the run at once with what to install: never a skip.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const emulators = await startGoogleEmulators();
  process.env.PUBSUB_EMULATOR_HOST = emulators.pubsub.host;
  process.env.FIRESTORE_EMULATOR_HOST = emulators.firestore.host;
  project.provide('pubsubHost', emulators.pubsub.host);
  project.provide('firestoreHost', emulators.firestore.host);
  return async () => {
    await emulators.stop();
  };
}
