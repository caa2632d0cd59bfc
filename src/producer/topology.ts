import type { PubSub, SubscriptionMetadata, Topic } from '@google-cloud/pubsub';
import { isAlreadyExists } from '../errors/grpc.ts';

/** The Pub/Sub resources jobbridge needs, and the delivery policies we recommend. */
export interface JobTopologyOptions {
  /** Topic producers publish job requests on. */
  topic: string;
  /** Where a request lands after `maxDeliveryAttempts` failed pushes. */
  deadLetterTopic: string;
  /** Pull subscription on the dead-letter topic, so dead letters are kept to be read. */
  deadLetterSubscription: string;
  /** The push subscription that delivers to the bridge. */
  subscription: string;
  /** The bridge's push URL, e.g. `http://127.0.0.1:8080/pubsub/push`. */
  pushEndpoint: string;
  /**
   * A push subscription on the dead-letter topic to the bridge's `/pubsub/dead-letter`, so a
   * request Pub/Sub gave up on ends `failed` (reason `dead-lettered`) instead of vanishing.
   */
  deadLetterPush?: { subscription: string; endpoint: string };
  /** On Google: the service account whose OIDC token signs each push, and its audience. */
  oidc?: { serviceAccountEmail: string; audience: string };
  /** Default 10 (Pub/Sub allows 5–100). */
  maxDeliveryAttempts?: number;
  /** Retry backoff bounds; default 10 s and 600 s. */
  minimumBackoffSeconds?: number;
  maximumBackoffSeconds?: number;
  /**
   * Default true. The official Pub/Sub emulator (google-cloud-cli 528) stops redelivering a
   * refused push after one retry when a retry policy is set (bench/reliability/push-retry-probe.ts
   * shows it): `jobbridge dev` passes false, so the emulator redelivers at once, as it does
   * without one. On Google, keep the policy.
   */
  retryPolicy?: boolean;
  /** Default 60 s: the bridge answers well before, runJob is never awaited to completion. */
  ackDeadlineSeconds?: number;
}

/** Returns the topic, creating it when missing. */
export async function ensureTopic(pubsub: PubSub, name: string): Promise<Topic> {
  try {
    const [topic] = await pubsub.createTopic(name);
    return topic;
  } catch (err: unknown) {
    if (isAlreadyExists(err)) return pubsub.topic(name);
    throw err;
  }
}

/**
 * Creates (or brings up to date) the request topic, the dead-letter topic with a pull
 * subscription, and the push subscription to the bridge with the recommended retry and
 * dead-letter policies. Idempotent: run it at every `jobbridge dev` start.
 *
 * On Google, Pub/Sub's service agent also needs `roles/pubsub.publisher` on the dead-letter topic
 * and `roles/pubsub.subscriber` on the push subscription for dead-lettering to work.
 */
export async function ensureJobTopology(
  pubsub: PubSub,
  options: JobTopologyOptions,
): Promise<void> {
  const topic = await ensureTopic(pubsub, options.topic);
  const deadLetter = await ensureTopic(pubsub, options.deadLetterTopic);
  try {
    await deadLetter.createSubscription(options.deadLetterSubscription);
  } catch (err: unknown) {
    if (!isAlreadyExists(err)) throw err;
  }
  const metadata = {
    pushConfig: {
      pushEndpoint: options.pushEndpoint,
      ...(options.oidc && { oidcToken: options.oidc }),
    },
    ackDeadlineSeconds: options.ackDeadlineSeconds ?? 60,
    ...(options.retryPolicy === false
      ? {}
      : {
          retryPolicy: {
            minimumBackoff: { seconds: options.minimumBackoffSeconds ?? 10 },
            maximumBackoff: { seconds: options.maximumBackoffSeconds ?? 600 },
          },
        }),
    deadLetterPolicy: {
      deadLetterTopic: deadLetter.name,
      maxDeliveryAttempts: options.maxDeliveryAttempts ?? 10,
    },
  };
  await createOrUpdate(pubsub, topic, options.subscription, metadata);
  if (options.deadLetterPush) {
    await createOrUpdate(pubsub, deadLetter, options.deadLetterPush.subscription, {
      pushConfig: {
        pushEndpoint: options.deadLetterPush.endpoint,
        ...(options.oidc && { oidcToken: options.oidc }),
      },
      ackDeadlineSeconds: metadata.ackDeadlineSeconds,
      retryPolicy: metadata.retryPolicy,
    });
  }
}

async function createOrUpdate(
  pubsub: PubSub,
  topic: Topic,
  name: string,
  metadata: SubscriptionMetadata,
): Promise<void> {
  try {
    await topic.createSubscription(name, metadata);
  } catch (err: unknown) {
    if (!isAlreadyExists(err)) throw err;
    await pubsub.subscription(name).setMetadata(metadata);
  }
}
