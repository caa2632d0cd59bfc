/**
 * `node bench/reliability/dead-letter-probe.ts [--down-ms D] [--answer-ms A] [--messages N]
 * [--attempts K]`: how fast the official Pub/Sub emulator spends a push subscription's delivery
 * attempts (no retry policy, as the burst and chaos runs use it). N messages are published at once
 * to a push endpoint that is down (nothing listening: connection refused, as a SIGKILLed bridge)
 * for the first D ms and then answers 200 after A ms each; the subscription dead-letters after K
 * attempts. Prints, per message, when it was acked or dead-lettered and with how many attempts,
 * and as its last line a JSON summary: how many were dead-lettered, the attempts a down
 * millisecond cost, and how many pushes were in flight at most.
 */
import { createServer, type Server } from 'node:http';
import { PubSub } from '@google-cloud/pubsub';
import { freePort } from '../../src/devstack/google-emulators.ts';
import { numberArg, withGoogleEmulators } from './google.ts';

const downMs = Number(process.argv[process.argv.indexOf('--down-ms') + 1] ?? 0) || 0;
const answerMs = Number(process.argv[process.argv.indexOf('--answer-ms') + 1] ?? 0) || 0;
const messages = numberArg('messages', 'PROBE_MESSAGES', 100);
const attempts = numberArg('attempts', 'PROBE_ATTEMPTS', 20);
const watchMs = numberArg('seconds', 'PROBE_SECONDS', 60) * 1000;

await withGoogleEmulators(async () => {
  const pubsub = new PubSub({ projectId: 'dead-letter-probe' });
  const port = await freePort();
  const acked = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  let started = 0;
  const server: Server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const { message } = JSON.parse(body) as { message: { data: string } };
      const id = Buffer.from(message.data, 'base64').toString();
      setTimeout(() => {
        inFlight--;
        if (!acked.has(id)) acked.set(id, Date.now() - started);
        res.writeHead(200).end();
      }, answerMs);
    });
  });
  const [topic] = await pubsub.createTopic('probe-topic');
  const [dead] = await pubsub.createTopic('probe-dead');
  const [deadPull] = await dead.createSubscription('probe-dead-pull');
  const deadLettered = new Map<string, { atMs: number; attempts: string }>();
  deadPull.on('message', (m: { data: Buffer; attributes: Record<string, string>; ack(): void }) => {
    deadLettered.set(m.data.toString(), {
      atMs: Date.now() - started,
      attempts: m.attributes.CloudPubSubDeadLetterSourceDeliveryCount ?? '?',
    });
    m.ack();
  });
  await topic.createSubscription('probe-push', {
    pushConfig: { pushEndpoint: `http://127.0.0.1:${port}/push` },
    ackDeadlineSeconds: 10,
    deadLetterPolicy: { deadLetterTopic: dead.name, maxDeliveryAttempts: attempts },
  });
  started = Date.now();
  await Promise.all(
    Array.from({ length: messages }, (_, i) => topic.publishMessage({ data: Buffer.from(`${i}`) })),
  );
  await new Promise((r) => setTimeout(r, Math.max(0, downMs - (Date.now() - started))));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const upAt = Date.now() - started;
  while (Date.now() - started < watchMs && acked.size + deadLettered.size < messages)
    await new Promise((r) => setTimeout(r, 250));
  await new Promise((r) => setTimeout(r, 2000));
  await deadPull.close();
  server.close();
  await pubsub.close();
  for (const [id, d] of deadLettered)
    console.log(`message ${id}: dead-lettered at ${d.atMs} ms after ${d.attempts} attempts`);
  const ackTimes = [...acked.values()].sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      messages,
      maxDeliveryAttempts: attempts,
      downMs,
      upAtMs: upAt,
      answerMs,
      acked: acked.size,
      deadLettered: deadLettered.size,
      firstDeadLetterMs: Math.min(...[...deadLettered.values()].map((d) => d.atMs)),
      lastAckMs: ackTimes.at(-1) ?? null,
      maxPushesInFlight: maxInFlight,
    }),
  );
});
