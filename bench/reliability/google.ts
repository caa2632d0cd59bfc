import { startGoogleEmulators } from '../../src/devstack/google-emulators.ts';

/**
 * Starts the official Pub/Sub and Firestore emulators for a reliability script, runs `body` with
 * their hosts, and stops them (and their Java processes) whatever happens.
 */
export async function withGoogleEmulators<T>(
  body: (hosts: { pubsub: string; firestore: string }) => Promise<T>,
): Promise<T> {
  const emulators = await startGoogleEmulators();
  process.env.PUBSUB_EMULATOR_HOST = emulators.pubsub.host;
  process.env.FIRESTORE_EMULATOR_HOST = emulators.firestore.host;
  const stop = () => void emulators.stop();
  process.once('SIGINT', stop);
  try {
    return await body({ pubsub: emulators.pubsub.host, firestore: emulators.firestore.host });
  } finally {
    process.off('SIGINT', stop);
    await emulators.stop();
  }
}

/** `--name value` from argv, else the env var, else the default. */
export function numberArg(name: string, envName: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[envName];
  const n = Number(raw ?? fallback);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`--${name} (${envName}) must be a positive number, got ${raw}`);
  return n;
}
