import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { createFirestore, createPubSub } from '../../src/google-clients.ts';
import { inject } from 'vitest';

/**
 * Each test file gets its own project id: the emulators keep projects apart, so files never see
 * each other's topics or documents.
 */
export function testProjectId(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function emulatorHosts(): { pubsub: string; firestore: string } {
  return { pubsub: inject('pubsubHost'), firestore: inject('firestoreHost') };
}

/** A Firestore client on the emulator for `projectId`. */
export function testFirestore(projectId: string): Firestore {
  process.env.FIRESTORE_EMULATOR_HOST = inject('firestoreHost');
  return createFirestore(
    { projectId, emulatorHost: inject('firestoreHost') },
    { preferRest: false },
  );
}

/** A Pub/Sub client on the emulator for `projectId`. */
export function testPubSub(projectId: string): PubSub {
  process.env.PUBSUB_EMULATOR_HOST = inject('pubsubHost');
  return createPubSub({ projectId, emulatorHost: inject('pubsubHost') });
}
