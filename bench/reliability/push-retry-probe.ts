/**
 * `node bench/reliability/push-retry-probe.ts [--policy]`: how the official Pub/Sub emulator
 * redelivers a push that failed. 20 messages go to a push endpoint that answers 503 to the first
 * two deliveries of each and 200 after; it prints when each delivery came (ms after publishing).
 * Without a retryPolicy every message is redelivered within about a second until acked; with
 * `--policy` (minimumBackoff 1 s, maximumBackoff 5 s), on google-cloud-cli 528, messages were
 * redelivered once at most and then not again for the 150 s we watched. The chaos suite therefore
 * creates its push subscription without a retryPolicy.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PubSub } from '@google-cloud/pubsub';
import { numberArg, withGoogleEmulators } from './google.ts';

const withPolicy = process.argv.includes('--policy');
const watchMs = numberArg('seconds', 'PROBE_SECONDS', 30) * 1000;

await withGoogleEmulators(async () => {
  const pubsub = new PubSub({ projectId: 'push-retry-probe' });
  const deliveries = new Map<string, number[]>();
  const started = Date.now();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const { message } = JSON.parse(body) as { message: { data: string } };
      const id = Buffer.from(message.data, 'base64').toString();
      const times = deliveries.get(id) ?? [];
      times.push(Date.now() - started);
      deliveries.set(id, times);
      res.writeHead(times.length < 3 ? 503 : 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const [topic] = await pubsub.createTopic('probe-topic');
  await topic.createSubscription('probe-push', {
    pushConfig: { pushEndpoint: `http://127.0.0.1:${port}/push` },
    ackDeadlineSeconds: 10,
    ...(withPolicy
      ? { retryPolicy: { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 5 } } }
      : {}),
  });
  for (let i = 0; i < 20; i++) await topic.publishMessage({ data: Buffer.from(String(i)) });
  await new Promise((r) => setTimeout(r, watchMs));
  server.close();
  await pubsub.close();
  const acked = [...deliveries.values()].filter((t) => t.length >= 3).length;
  for (const [id, times] of deliveries)
    console.log(`message ${id}: deliveries at ${times.join(', ')} ms`);
  console.log(
    JSON.stringify({
      retryPolicy: withPolicy,
      messages: 20,
      acked,
      deliveries: [...deliveries.values()].flat().length,
    }),
  );
});
