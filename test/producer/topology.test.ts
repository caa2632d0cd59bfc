import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureJobTopology } from '../../src/producer/index.ts';
import { testProjectId, testPubSub } from '../harness/google.ts';

let pubsub: PubSub;
const projectId = testProjectId('topology');

beforeAll(() => {
  pubsub = testPubSub(projectId);
});
afterAll(async () => {
  await pubsub.close();
});

const options = {
  topic: 'jobbridge-requests',
  deadLetterTopic: 'jobbridge-dead-letters',
  deadLetterSubscription: 'jobbridge-dead-letters-keep',
  subscription: 'jobbridge-push',
  pushEndpoint: 'http://127.0.0.1:9/pubsub/push',
};

describe('ensureJobTopology', () => {
  it('creates the topics and a push subscription with retry and dead-letter policies, idempotently', async () => {
    await ensureJobTopology(pubsub, options);
    const [metadata] = await pubsub.subscription(options.subscription).getMetadata();
    expect(metadata.topic).toBe(`projects/${projectId}/topics/${options.topic}`);
    expect(metadata.pushConfig?.pushEndpoint).toBe(options.pushEndpoint);
    expect(metadata.ackDeadlineSeconds).toBe(60);
    expect(metadata.deadLetterPolicy).toMatchObject({
      deadLetterTopic: `projects/${projectId}/topics/${options.deadLetterTopic}`,
      maxDeliveryAttempts: 10,
    });
    expect(Number(metadata.retryPolicy?.minimumBackoff?.seconds)).toBe(10);
    expect(Number(metadata.retryPolicy?.maximumBackoff?.seconds)).toBe(600);
    const [keep] = await pubsub.subscription(options.deadLetterSubscription).getMetadata();
    expect(keep.topic).toBe(`projects/${projectId}/topics/${options.deadLetterTopic}`);

    // A second start with the bridge on another port points the subscription there.
    await ensureJobTopology(pubsub, {
      ...options,
      pushEndpoint: 'http://127.0.0.1:10/pubsub/push',
    });
    const [again] = await pubsub.subscription(options.subscription).getMetadata();
    expect(again.pushConfig?.pushEndpoint).toBe('http://127.0.0.1:10/pubsub/push');
  });

  it('with deadLetterPush, dead letters are also pushed to the bridge, the pull subscription kept', async () => {
    const deadLetterPush = {
      subscription: 'jobbridge-dead-letters-bridge',
      endpoint: 'http://127.0.0.1:9/pubsub/dead-letter',
    };
    await ensureJobTopology(pubsub, { ...options, deadLetterPush });
    const [push] = await pubsub.subscription(deadLetterPush.subscription).getMetadata();
    expect(push.topic).toBe(`projects/${projectId}/topics/${options.deadLetterTopic}`);
    expect(push.pushConfig?.pushEndpoint).toBe(deadLetterPush.endpoint);
    expect(push.deadLetterPolicy).toBeFalsy();
    const [keep] = await pubsub.subscription(options.deadLetterSubscription).getMetadata();
    expect(keep.pushConfig?.pushEndpoint ?? '').toBe('');
  });

  it('retryPolicy: false leaves the subscription without one (for the emulator)', async () => {
    const name = 'jobbridge-push-no-policy';
    await ensureJobTopology(pubsub, { ...options, subscription: name, retryPolicy: false });
    const [metadata] = await pubsub.subscription(name).getMetadata();
    expect(metadata.retryPolicy).toBeFalsy();
    expect(metadata.deadLetterPolicy?.maxDeliveryAttempts).toBe(10);
  });
});
