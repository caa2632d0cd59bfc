/**
 * `node bench/reliability/ack-status-probe.ts [--seconds S] [--statuses 200,201,202,204]`: which
 * HTTP statuses the official Pub/Sub emulator takes as the ack of a push. For each status, 20
 * messages go to a push endpoint that answers every delivery with it; the probe counts the
 * deliveries in S seconds (25). Pub/Sub acks 102, 200, 201, 202 and 204; on google-cloud-cli's
 * emulator 0.8.20 a push answered 202 was delivered again about once a second (20 messages,
 * 489 deliveries in 25 s), which is why the bridge answers `queued` 200 (src/errors/outcomes.ts).
 * Prints one line per status and, last, one JSON object.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PubSub } from '@google-cloud/pubsub';
import { numberArg, withGoogleEmulators } from './google.ts';

const watchMs = numberArg('seconds', 'PROBE_SECONDS', 25) * 1000;
const i = process.argv.indexOf('--statuses');
const statuses = (i >= 0 ? (process.argv[i + 1] ?? '') : '200,201,202,204').split(',').map(Number);
const MESSAGES = 20;

const figures = await withGoogleEmulators(async () => {
  const pubsub = new PubSub({ projectId: 'ack-status-probe' });
  const out: Record<string, { messages: number; deliveries: number }> = {};
  try {
    for (const status of statuses) {
      let deliveries = 0;
      const server = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          deliveries++;
          res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const [topic] = await pubsub.createTopic(`probe-${status}`);
      const [subscription] = await topic.createSubscription(`probe-${status}-push`, {
        pushConfig: { pushEndpoint: `http://127.0.0.1:${port}/push` },
        ackDeadlineSeconds: 10,
      });
      for (let n = 0; n < MESSAGES; n++)
        await topic.publishMessage({ data: Buffer.from(String(n)) });
      await new Promise((resolve) => setTimeout(resolve, watchMs));
      await subscription.delete();
      await topic.delete();
      await new Promise((resolve) => server.close(resolve));
      out[String(status)] = { messages: MESSAGES, deliveries };
      console.log(`status ${status}: ${MESSAGES} messages, ${deliveries} deliveries`);
    }
  } finally {
    await pubsub.close();
  }
  return out;
});
console.log(JSON.stringify({ watchSeconds: watchMs / 1000, statuses: figures }));
