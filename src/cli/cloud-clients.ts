import type { Firestore } from '@google-cloud/firestore';
import { createFirestore } from '../google-clients.ts';
import { CloudRunLauncher, createRunClients, type RunClients } from '../launcher/index.ts';

/** What `serve` and `reconcile` both talk to: Firestore and Cloud Run Jobs. */
export interface CloudClients {
  firestore: Firestore;
  run: RunClients;
  launcher: CloudRunLauncher;
  close(): Promise<void>;
}

/**
 * Creates the Firestore client and the Cloud Run clients with their launcher, pointed at Google
 * or at the emulators the config names (FIRESTORE_EMULATOR_HOST, CLOUD_RUN_EMULATOR_HOST).
 */
export function createCloudClients(config: {
  projectId: string;
  region: string;
  cloudRunEmulatorHost: string | undefined;
  firestoreEmulatorHost: string | undefined;
}): CloudClients {
  const firestore = createFirestore({
    projectId: config.projectId,
    emulatorHost: config.firestoreEmulatorHost,
  });
  const run = createRunClients({
    projectId: config.projectId,
    ...(config.cloudRunEmulatorHost ? { emulatorHost: config.cloudRunEmulatorHost } : {}),
  });
  const launcher = new CloudRunLauncher(run, { project: config.projectId, region: config.region });
  return {
    firestore,
    run,
    launcher,
    close: async () => {
      await Promise.allSettled([run.close(), firestore.terminate()]);
    },
  };
}
