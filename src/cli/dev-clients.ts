import type { DevStackClients } from '../devstack/dev-stack.ts';
import { createFirestore, createPubSub } from '../google-clients.ts';
import { ensureJobTopology, publishJob } from '../producer/index.ts';

/** The Google clients `jobbridge dev`'s stack works with, all on the emulators it started. */
export const devStackClients: DevStackClients = {
  async createTopology(target, names) {
    const pubsub = createPubSub({ projectId: target.projectId, emulatorHost: target.pubsubHost });
    try {
      await ensureJobTopology(pubsub, names);
    } finally {
      await pubsub.close();
    }
  },
  dashboard(target) {
    const firestore = createFirestore({
      projectId: target.projectId,
      emulatorHost: target.firestoreHost,
    });
    const pubsub = createPubSub({ projectId: target.projectId, emulatorHost: target.pubsubHost });
    return {
      firestore,
      publish: (request) => publishJob(pubsub, target.topic, request),
      close: async () => {
        await Promise.allSettled([firestore.terminate(), pubsub.close()]);
      },
    };
  },
};
