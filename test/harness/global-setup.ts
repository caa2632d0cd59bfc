import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  // One compile cache for the run (Node's NODE_COMPILE_CACHE, as the image sets it): the test
  // workers inherit it, and every `node src/cli.ts` child gets it (harness/child-env.ts), so the
  // hundreds of CLI, bridge and task starts compile the same modules once, not each time.
  const compileCache = mkdtempSync(join(tmpdir(), 'jobbridge-test-compile-cache-'));
  process.env.NODE_COMPILE_CACHE = compileCache;
  const emulators = await startGoogleEmulators();
  process.env.PUBSUB_EMULATOR_HOST = emulators.pubsub.host;
  process.env.FIRESTORE_EMULATOR_HOST = emulators.firestore.host;
  project.provide('pubsubHost', emulators.pubsub.host);
  project.provide('firestoreHost', emulators.firestore.host);
  // A run that ends without its teardown (Ctrl-C, a runner that exits early) must not leave
  // Java behind: the exit hook kills both process groups, synchronously.
  const killGroups = (): void => {
    for (const pid of [emulators.pubsub.pid, emulators.firestore.pid]) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killGroups);
  return async () => {
    process.off('exit', killGroups);
    await emulators.stop();
    rmSync(compileCache, { recursive: true, force: true });
  };
}
