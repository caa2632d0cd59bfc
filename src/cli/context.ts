import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { createFirestore, createPubSub } from '../google-clients.ts';
import type { Command } from 'commander';
import { FIXED_ENV } from '../contract/index.ts';
import { ensureReachable } from './reachable.ts';
import { readClientConfig, type ClientConfig } from '../config/index.ts';

export { DEFAULT_TOPIC } from '../config/index.ts';
export { readClientConfig, type ClientConfig };

/** Runs `use` with a Firestore client and always closes it, so the CLI process can exit. */
export async function withFirestore<T>(
  config: ClientConfig,
  use: (db: Firestore) => Promise<T>,
): Promise<T> {
  await ensureReachable({
    name: 'Firestore',
    emulatorHost: config.firestoreEmulatorHost,
    envName: FIXED_ENV.firestoreEmulatorHost,
    googleHost: 'firestore.googleapis.com:443',
  });
  const db = createFirestore({
    projectId: config.projectId,
    emulatorHost: config.firestoreEmulatorHost,
  });
  try {
    return await use(db);
  } finally {
    await db.terminate();
  }
}

/** Runs `use` with a Pub/Sub client and always closes it. */
export async function withPubSub<T>(
  config: ClientConfig,
  use: (pubsub: PubSub) => Promise<T>,
): Promise<T> {
  await ensureReachable({
    name: 'Pub/Sub',
    emulatorHost: config.pubsubEmulatorHost,
    envName: FIXED_ENV.pubsubEmulatorHost,
    googleHost: 'pubsub.googleapis.com:443',
  });
  const pubsub = createPubSub({
    projectId: config.projectId,
    emulatorHost: config.pubsubEmulatorHost,
  });
  try {
    return await use(pubsub);
  } finally {
    await pubsub.close();
  }
}

/**
 * Stops the command with a usage error: one line on stderr, exit code 2 (src/cli.ts maps
 * commander's errors to 2).
 */
export function usageError(command: Command, message: string): never {
  command.error(`error: ${message}`, { exitCode: 2, code: 'jobbridge.usage' });
  // command.error throws under exitOverride; this line is for the type checker.
  throw new Error(message);
}

/** A request id that has no job document: said the same way by every command. */
export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';
  constructor(requestId: string, config: ClientConfig) {
    const where = `collection ${config.collection}${config.projectId ? ` of project ${config.projectId}` : ''}`;
    super(`no job with request id "${requestId}" in ${where}`);
  }
}

/** Writes one line to stdout. */
export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}
