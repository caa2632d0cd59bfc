/**
 * `npm run soak`: the local stack (the official Pub/Sub and Firestore emulators, the Cloud Run
 * Jobs emulator, a `jobbridge serve` child behind a push subscription) under a steady publish
 * rate for 10 minutes (`--seconds N`, `--rate R` per second). Every `--sample-seconds` it samples
 * the bridge's RSS and open file descriptors from /proc and the p99 of the latencyMs of the
 * deliveries it logged since the last sample. Prints the samples, the first and last minute side
 * by side, and as its last line one JSON object with the figures.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { startBridgeProcess } from '../src/devstack/bridge-process.ts';
import { freePort } from '../src/devstack/google-emulators.ts';
import { startRunEmulator } from '../src/emulator/index.ts';
import { publishJob } from '../src/producer/index.ts';
import { numberArg, withGoogleEmulators } from './reliability/google.ts';

const seconds = numberArg('seconds', 'SOAK_SECONDS', 600);
const rate = numberArg('rate', 'SOAK_RATE', 20);
const sampleSeconds = numberArg('sample-seconds', 'SOAK_SAMPLE_SECONDS', 5);
const JOB = 'soak-job';
const REGION = 'local';

interface Sample {
  atS: number;
  rssMb: number;
  fds: number;
  deliveries: number;
  p99Ms: number;
}

const rssMb = (pid: number) =>
  Math.round(
    Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 102.4,
  ) / 10;
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const p99 = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
};

/** First and last minute of the samples: mean RSS, max fds, p99 latency over the window. */
function window(
  samples: Sample[],
  latencies: { atS: number; ms: number }[],
  fromS: number,
  toS: number,
) {
  const inside = samples.filter((s) => s.atS > fromS && s.atS <= toS);
  const ms = latencies.filter((l) => l.atS > fromS && l.atS <= toS).map((l) => l.ms);
  return {
    rssMb:
      Math.round((inside.reduce((n, s) => n + s.rssMb, 0) / Math.max(1, inside.length)) * 10) / 10,
    fdsMax: Math.max(0, ...inside.map((s) => s.fds)),
    deliveries: ms.length,
    p99Ms: p99(ms),
  };
}

const figures = await withGoogleEmulators(async (hosts) => {
  const projectId = `soak-${randomUUID().slice(0, 8)}`;
  const pubsub = new PubSub({ projectId });
  const firestore = new Firestore({ projectId, preferRest: false });
  const emulator = await startRunEmulator({
    jobs: { jobs: { [JOB]: { command: ['/bin/true'] } } },
    log: () => undefined,
  });
  const port = await freePort();
  const latencies: { atS: number; ms: number }[] = [];
  const outcomes: Record<string, number> = {};
  let startedAt = performance.now();
  const bridge = await startBridgeProcess({
    port,
    env: {
      PATH: process.env.PATH,
      GOOGLE_CLOUD_PROJECT: projectId,
      JOBBRIDGE_REGION: REGION,
      JOBBRIDGE_JOBS: JOB,
      // Its requests carry raw args, which a job's policy must allow.
      JOBBRIDGE_JOB_POLICY: JSON.stringify({ [JOB]: { rawArgs: true } }),
      JOBBRIDGE_INSECURE_PUSH: 'true',
      JOBBRIDGE_LISTEN_HOST: '127.0.0.1',
      PORT: String(port),
      JOBBRIDGE_RUNJOB_PER_MINUTE: '100000',
      JOBBRIDGE_RUNJOB_BURST: '10000',
      FIRESTORE_EMULATOR_HOST: hosts.firestore,
      CLOUD_RUN_EMULATOR_HOST: emulator.host,
    },
    onLine: (line) => {
      if (!line.startsWith('{"')) return;
      const l = JSON.parse(line) as { message?: string; outcome?: string; latencyMs?: number };
      if (l.message !== 'push delivery' || typeof l.latencyMs !== 'number') return;
      latencies.push({ atS: (performance.now() - startedAt) / 1000, ms: l.latencyMs });
      outcomes[String(l.outcome)] = (outcomes[String(l.outcome)] ?? 0) + 1;
    },
  });
  const subscription = `soak-push-${projectId}`;
  const samples: Sample[] = [];
  let published = 0;
  try {
    const [topic] = await pubsub.createTopic(`soak-${projectId}`);
    await topic.createSubscription(subscription, {
      pushConfig: { pushEndpoint: `${bridge.url}/pubsub/push` },
      ackDeadlineSeconds: 10,
    });
    startedAt = performance.now();
    let seen = 0;
    const sampler = setInterval(() => {
      const atS = Math.round((performance.now() - startedAt) / 1000);
      const recent = latencies.slice(seen).map((l) => l.ms);
      seen = latencies.length;
      const sample = {
        atS,
        rssMb: rssMb(bridge.pid),
        fds: fds(bridge.pid),
        deliveries: recent.length,
        p99Ms: p99(recent),
      };
      samples.push(sample);
      process.stderr.write(`[soak] ${JSON.stringify(sample)}\n`);
    }, sampleSeconds * 1000);
    const ids: string[] = [];
    const total = Math.round(seconds * rate);
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < total; i++) {
      const due = startedAt + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      // 80 % new requests, 10 % duplicates, 10 % invalid (a job not on the allowlist).
      const kind = i % 10;
      const requestId = kind === 8 && ids.length > 0 ? ids[ids.length - 1]! : `soak-${i}`;
      if (kind !== 8) ids.push(requestId);
      sends.push(
        publishJob(pubsub, topic, {
          requestId,
          job: kind === 9 ? 'not-allowed' : JOB,
          args: [],
        }).then(() => published++),
      );
      if (sends.length > 200) await Promise.all(sends.splice(0));
    }
    await Promise.all(sends);
    clearInterval(sampler);
  } finally {
    await bridge.stop();
    await pubsub
      .subscription(subscription)
      .delete()
      .catch(() => undefined);
    await pubsub.close();
    await emulator.stop();
    await Promise.race([firestore.terminate(), new Promise((r) => setTimeout(r, 1000))]);
  }
  const end = (performance.now() - startedAt) / 1000;
  const span = Math.min(60, end / 2);
  return {
    seconds,
    ratePerSecond: rate,
    published,
    delivered: latencies.length,
    outcomes,
    firstMinute: window(samples, latencies, 0, span),
    lastMinute: window(samples, latencies, end - span, end),
    samples: samples.length,
  };
});

const f = figures.firstMinute;
const l = figures.lastMinute;
console.log(
  `soak: ${figures.published} published at ${rate}/s over ${seconds} s, ${figures.delivered} deliveries logged`,
);
console.log('                first minute   last minute');
console.log(`RSS (MB)        ${String(f.rssMb).padEnd(15)}${l.rssMb}`);
console.log(`open fds (max)  ${String(f.fdsMax).padEnd(15)}${l.fdsMax}`);
console.log(`p99 latency ms  ${String(f.p99Ms).padEnd(15)}${l.p99Ms}`);
console.log(`deliveries      ${String(f.deliveries).padEnd(15)}${l.deliveries}`);
console.log(JSON.stringify(figures));
