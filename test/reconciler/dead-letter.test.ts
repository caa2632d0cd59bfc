import Fastify, { type FastifyInstance } from 'fastify';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRunEmulator, type StartedRunEmulator } from '../../src/emulator/index.ts';
import { CloudRunLauncher, createRunClients, type RunClients } from '../../src/launcher/index.ts';
import {
  DEAD_LETTER_PATH,
  deadLetterRoute,
  handleDeadLetter,
  type DeadLetterDeps,
} from '../../src/bridge/dead-letter.ts';
import { testFirestore, testProjectId, testPubSub } from '../harness/google.ts';
import { COLLECTION, MINUTE, readJob, waitFor, writeJob } from './rig.ts';

const projectId = testProjectId('deadletter');
const db = testFirestore(projectId);
let pubsub: PubSub;
let emulator: StartedRunEmulator;
let clients: RunClients;
let deps: DeadLetterDeps;
let app: FastifyInstance;
let failing: Server;
let failingHits = 0;

function request(requestId: string) {
  return { schemaVersion: 1, requestId, job: 'ok', args: ['a'], env: { SECRET_VALUE: 'hunter2' } };
}

function envelope(data: unknown, attributes: Record<string, string>, messageId = 'dl-msg-1') {
  return {
    message: {
      data: Buffer.from(JSON.stringify(data)).toString('base64'),
      attributes,
      messageId,
      publishTime: new Date().toISOString(),
    },
    subscription: `projects/${projectId}/subscriptions/requests-dl-push`,
  };
}

beforeAll(async () => {
  pubsub = testPubSub(projectId);
  emulator = await startRunEmulator({
    jobs: { jobs: { ok: { command: [process.execPath, '-e', ''], maxRetries: 0 } } },
    log: () => undefined,
  });
  clients = createRunClients({ emulatorHost: emulator.host });
  const launcher = new CloudRunLauncher(clients, { project: projectId, region: 'us-central1' });
  deps = { firestore: db, collection: COLLECTION, launcher, retentionMs: 86_400_000 };

  // The dead-letter subscription's endpoint: the handler mounted as the bridge would mount it.
  app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post(DEAD_LETTER_PATH, deadLetterRoute(deps));
  await app.listen({ port: 0, host: '127.0.0.1' });

  // The main subscription's endpoint: a bridge that always fails.
  failing = createServer((req, res) => {
    failingHits++;
    req.resume();
    res.statusCode = 503;
    res.end();
  });
  await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  await app?.close();
  await new Promise((r) => failing?.close(r));
  await pubsub?.close();
  await clients?.close();
  await emulator?.stop();
  await db.terminate();
});

// The route on its own, as mounted outside the bridge (no admission): every request ends failed.
describe('dead letters', () => {
  it('a message Pub/Sub dead-letters after 5 failed pushes ends failed with dead-lettered', async () => {
    const [dlTopic] = await pubsub.createTopic('requests-dl');
    const [topic] = await pubsub.createTopic('requests');
    const port = (app.server.address() as AddressInfo).port;
    // Seen with the emulator (2 runs of 2): a dead-letter topic whose only subscription is a push
    // one never received the forwarded messages; with a pull subscription beside it, both do.
    await dlTopic.createSubscription('requests-dl-pull');
    await dlTopic.createSubscription('requests-dl-push', {
      pushConfig: { pushEndpoint: `http://127.0.0.1:${port}${DEAD_LETTER_PATH}` },
    });
    await topic.createSubscription('requests-push', {
      pushConfig: {
        pushEndpoint: `http://127.0.0.1:${(failing.address() as AddressInfo).port}/pubsub/push`,
      },
      deadLetterPolicy: { deadLetterTopic: dlTopic.name, maxDeliveryAttempts: 5 },
      retryPolicy: { minimumBackoff: { seconds: 0 }, maximumBackoff: { seconds: 1 } },
    });
    // One request never claimed by any delivery, one left `dispatching` by a delivery that died.
    const dead = { leaseOwner: 'died', leaseExpiresAt: new Date(Date.now() - MINUTE) };
    await writeJob(db, 'dl-claimed', 'dispatching', { dispatch: dead });
    for (const id of ['dl-unclaimed', 'dl-claimed']) {
      await topic.publishMessage({ json: request(id), attributes: { requestId: id } });
    }
    for (const id of ['dl-unclaimed', 'dl-claimed']) {
      const job = await waitFor(
        `${id} dead-lettered`,
        async () => {
          const snap = await db.collection(COLLECTION).doc(id).get();
          return snap.get('state') === 'failed' ? snap.data() : undefined;
        },
        60_000,
        250,
      );
      expect(job?.error).toMatchObject({ code: 'dead-lettered' });
      expect(String((job?.error as { message?: string } | undefined)?.message)).toMatch(
        /after 5 delivery attempts on (projects\/[^/]+\/subscriptions\/)?requests-push\b/,
      );
    }
    expect(failingHits).toBeGreaterThanOrEqual(10);
    const unclaimed = await readJob(db, 'dl-unclaimed');
    expect(unclaimed).toMatchObject({
      requestId: 'dl-unclaimed',
      job: 'ok',
      args: ['a'],
      envNames: ['SECRET_VALUE'],
    });
    expect(JSON.stringify(unclaimed)).not.toContain('hunter2');
    expect((await readJob(db, 'dl-claimed')).dispatch).toMatchObject({ leaseOwner: null });
  }, 90_000);

  it('leaves dispatched and ended jobs alone, retries a live lease, adopts a started execution', async () => {
    await writeJob(db, 'dl-done', 'succeeded');
    const live = { leaseOwner: 'busy', leaseExpiresAt: new Date(Date.now() + MINUTE) };
    await writeJob(db, 'dl-live', 'dispatching', { dispatch: live });
    const { executionName } = await deps.launcher.launch({
      job: 'ok',
      env: { JOBBRIDGE_REQUEST_ID: 'dl-started' },
    });
    const died = { leaseOwner: 'died', leaseExpiresAt: new Date(Date.now() - MINUTE) };
    await writeJob(db, 'dl-started', 'dispatching', { dispatch: died });
    const attrs = (id: string) => ({
      requestId: id,
      CloudPubSubDeadLetterSourceDeliveryCount: '5',
    });

    const done = await handleDeadLetter(
      deps,
      JSON.stringify(envelope(request('dl-done'), attrs('dl-done'))),
    );
    expect(done).toMatchObject({ outcome: 'already-handled', status: 200 });
    expect((await readJob(db, 'dl-done')).state).toBe('succeeded');

    const busy = await handleDeadLetter(deps, envelope(request('dl-live'), attrs('dl-live')));
    expect(busy).toMatchObject({ outcome: 'in-progress', status: 409 });
    expect((await readJob(db, 'dl-live')).state).toBe('dispatching');

    const adopted = await handleDeadLetter(
      deps,
      Buffer.from(JSON.stringify(envelope(request('dl-started'), attrs('dl-started')))),
    );
    expect(adopted).toMatchObject({ outcome: 'adopted', status: 200 });
    expect(await readJob(db, 'dl-started')).toMatchObject({
      state: 'dispatched',
      dispatch: { executionName, adopted: true },
    });
  });

  it('a body that names no request is acked and logged, not looped', async () => {
    const res = await app.inject({ method: 'POST', url: DEAD_LETTER_PATH, payload: 'not json' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ outcome: 'unidentified' });
  });
});
