import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJobRequest, ValidationError } from '../../src/contract/index.ts';
import { ensureTopic, publishJob, uuidv7 } from '../../src/producer/index.ts';
import { functions } from '../../functions/index.ts';
import { argsChecks } from '../../src/worker/args.ts';
import { testProjectId, testPubSub } from '../harness/google.ts';
import { receive, type Received } from './received.ts';

const TOPIC = 'requests';
let pubsub: PubSub;
let received: Received;

beforeAll(async () => {
  pubsub = testPubSub(testProjectId('producer'));
  await ensureTopic(pubsub, TOPIC);
  received = await receive(pubsub, TOPIC, 'observer');
});
afterAll(async () => {
  await received.close();
  await pubsub.close();
});

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const byRequestId = (id: string) => received.messages.find((m) => m.attributes.requestId === id);

describe('uuidv7', () => {
  it('makes RFC 9562 version-7 ids that carry the time and sort by it', () => {
    const a = uuidv7(1_700_000_000_000);
    const b = uuidv7(1_700_000_000_001);
    expect(a).toMatch(UUID_V7);
    expect(parseInt(a.replace(/-/g, '').slice(0, 12), 16)).toBe(1_700_000_000_000);
    expect(a < b).toBe(true);
    expect(uuidv7()).not.toBe(uuidv7());
  });
});

describe('publishJob', () => {
  it('publishes a valid request with a generated UUIDv7 request id in the attribute and the body', async () => {
    const result = await publishJob(pubsub, TOPIC, {
      job: 'fanout',
      function: 'fanout',
      args: ['200'],
      taskCount: 4,
    });
    expect(result.requestId).toMatch(UUID_V7);
    await received.until(() => byRequestId(result.requestId) !== undefined);
    const message = byRequestId(result.requestId);
    expect(message?.id).toBe(result.messageId);
    expect(message?.attributes).toMatchObject({
      requestId: result.requestId,
      job: 'fanout',
      schemaVersion: '1',
    });
    const body = parseJobRequest(JSON.parse(message?.data.toString() ?? 'null'));
    expect(body).toEqual({
      ok: true,
      value: {
        schemaVersion: 1,
        requestId: result.requestId,
        job: 'fanout',
        function: 'fanout',
        args: ['200'],
        taskCount: 4,
      },
    });
  });

  it("uses the caller's idempotency key as the request id", async () => {
    const result = await publishJob(pubsub, TOPIC, {
      job: 'fanout',
      requestId: 'export-2026-11-28-acme',
    });
    expect(result.requestId).toBe('export-2026-11-28-acme');
    await received.until(() => byRequestId('export-2026-11-28-acme') !== undefined);
  });

  it('keeps a request id too long for an attribute in the body only', async () => {
    const requestId = `long-${'x'.repeat(2000)}`;
    const result = await publishJob(pubsub, TOPIC, { job: 'fanout', requestId });
    await received.until((ms) => ms.some((m) => m.id === result.messageId));
    const message = received.messages.find((m) => m.id === result.messageId);
    expect(message?.attributes.requestId).toBeUndefined();
    expect((JSON.parse(message?.data.toString() ?? '{}') as { requestId?: string }).requestId).toBe(
      requestId,
    );
  });

  it('refuses an invalid request before publishing, naming the field and the reason', async () => {
    const before = received.messages.length;
    const err: unknown = await publishJob(pubsub, TOPIC, {
      job: 'fanout',
      requestId: 'invalid-one',
      taskCount: 0,
      env: { NODE_OPTIONS: '--inspect' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    const issues = (err as ValidationError).issues;
    expect(issues).toContainEqual({ path: 'taskCount', reason: 'must be at least 1' });
    expect(issues).toContainEqual({
      path: 'env.NODE_OPTIONS',
      reason: 'NODE_OPTIONS is reserved and cannot be overridden',
    });
    // A valid request published afterwards arriving alone shows the invalid one never left.
    const sentinel = await publishJob(pubsub, TOPIC, {
      job: 'fanout',
      requestId: 'sentinel-after-invalid',
    });
    await received.until(() => byRequestId(sentinel.requestId) !== undefined);
    expect(received.messages.slice(before).map((m) => m.attributes.requestId)).toEqual([
      'sentinel-after-invalid',
    ]);
  });

  it("checks a known function's declared args before publishing (simulate --duration 8s)", async () => {
    const before = received.messages.length;
    const functionArgs = await argsChecks(functions);
    expect(Object.keys(functionArgs)).toEqual(['echo', 'simulate']);
    const err: unknown = await publishJob(
      pubsub,
      TOPIC,
      { job: 'simulate', function: 'simulate', requestId: 'typo-args', args: ['--duration', '8s'] },
      { functionArgs },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([
      {
        path: 'args',
        reason: expect.stringMatching(
          /^function simulate: Unknown option '--duration' \(simulate takes /,
        ) as string,
      },
    ]);
    // Without the checks it is only the contract's business, as before: it is published.
    await publishJob(pubsub, TOPIC, {
      job: 'simulate',
      function: 'simulate',
      requestId: 'unchecked-args',
      args: ['--duration', '8s'],
    });
    await received.until(() => byRequestId('unchecked-args') !== undefined);
    expect(received.messages.slice(before).map((m) => m.attributes.requestId)).toEqual([
      'unchecked-args',
    ]);
  });

  it("goes through the client's batching: a batch of 5 is sent when it fills, not by its timer", async () => {
    const topic = pubsub.topic(TOPIC, { batching: { maxMessages: 5, maxMilliseconds: 600_000 } });
    const results = await Promise.all(
      [0, 1, 2, 3, 4].map((i) =>
        publishJob(pubsub, topic, { job: 'fanout', requestId: `batch-${i}` }),
      ),
    );
    expect(new Set(results.map((r) => r.messageId)).size).toBe(5);
    await received.until(() => results.every((r) => byRequestId(r.requestId) !== undefined));
  });
});
