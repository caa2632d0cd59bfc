/**
 * `npm run bench:bridge`: one `jobbridge serve` process (OIDC verification on) against the
 * Firestore emulator and the Cloud Run Jobs emulator, at 1, 8 and 32 concurrent deliveries, next
 * to the I/O floor measured in the same run (the same Firestore create + update and RunJob call,
 * issued directly). Then Firestore operations per fresh request, from the bridge's own counts in
 * its log lines, and the bridge's RSS after BENCH_RSS_DELIVERIES (default 10,000) deliveries.
 * The last line printed is one JSON object with the figures.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Firestore } from '@google-cloud/firestore';
import { startGoogleEmulator } from '../src/devstack/google-emulators.ts';
import { startRunEmulator } from '../src/emulator/index.ts';
import { CloudRunLauncher, createRunClients } from '../src/launcher/index.ts';
import { killAllChildren, startChildBridge } from '../test/bridge/child-bridge.ts';
import {
  AUDIENCE,
  PUSH_SA,
  pushToken,
  signingKey,
  startCertServer,
} from '../test/bridge/tokens.ts';

const JOB = 'bench-job';
const REGION = 'asia-northeast1';
const PER_LEVEL = Number(process.env.BENCH_PER_LEVEL ?? 300);
const RSS_DELIVERIES = Number(process.env.BENCH_RSS_DELIVERIES ?? 10_000);
const LEVELS = [1, 8, 32];

interface Figures {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Runs `count` calls of `op` with `concurrency` in flight; throughput and latency. */
async function drive(
  count: number,
  concurrency: number,
  op: (i: number) => Promise<void>,
): Promise<Figures> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await op(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    perSecond: round(count / seconds),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
  };
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(match?.[1] ?? 0) / 1024);
}

const firestoreEmulator = await startGoogleEmulator('firestore');
process.env.FIRESTORE_EMULATOR_HOST = firestoreEmulator.host;
const projectId = `bench-${randomUUID().slice(0, 8)}`;
const emulator = await startRunEmulator({
  jobs: { jobs: { [JOB]: { command: ['/bin/true'] } } },
  log: () => {},
});
const run = createRunClients({ emulatorHost: emulator.host, projectId });
const launcher = new CloudRunLauncher(run, { project: projectId, region: REGION });
const firestore = new Firestore({ projectId });
const key = signingKey('bench-key');
const certs = await startCertServer([key]);
try {
  const bridge = await startChildBridge({
    PATH: process.env.PATH,
    GOOGLE_CLOUD_PROJECT: projectId,
    JOBBRIDGE_REGION: REGION,
    JOBBRIDGE_JOBS: JOB,
    JOBBRIDGE_PUSH_AUDIENCE: AUDIENCE,
    JOBBRIDGE_PUSH_SERVICE_ACCOUNT: PUSH_SA,
    JOBBRIDGE_PUSH_CERTS_URL: certs.url,
    JOBBRIDGE_LISTEN_HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    FIRESTORE_EMULATOR_HOST: firestoreEmulator.host,
    CLOUD_RUN_EMULATOR_HOST: emulator.host,
  });
  // One token for the run, as Pub/Sub reuses one until it nears expiry; verified on every request.
  const authorization = `Bearer ${pushToken(key)}`;
  const deliver = async () => {
    const body = {
      message: {
        data: Buffer.from(
          JSON.stringify({ schemaVersion: 1, job: JOB, requestId: randomUUID(), args: ['x'] }),
        ).toString('base64'),
        messageId: randomUUID(),
        publishTime: new Date().toISOString(),
      },
      subscription: 'projects/bench/subscriptions/push',
    };
    const res = await fetch(`${bridge.url}/pubsub/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`delivery answered ${res.status}`);
  };
  const floorOp = async () => {
    const ref = firestore.collection('floor').doc(randomUUID());
    const { writeTime } = await ref.create({
      state: 'dispatching',
      leaseOwner: 'x',
      createdAt: new Date(),
    });
    const launched = await launcher.launch({
      job: JOB,
      args: ['x'],
      env: { JOBBRIDGE_REQUEST_ID: ref.id },
    });
    await ref.update(
      { state: 'dispatched', executionName: launched.executionName },
      { lastUpdateTime: writeTime },
    );
  };
  await drive(30, 4, deliver); // warm-up: connections, certificate fetch, JIT
  await drive(30, 4, floorOp);

  const levels: Record<string, { bridge: Figures; floor: Figures; ratio: number }> = {};
  for (const c of LEVELS) {
    const floor = await drive(PER_LEVEL, c, floorOp);
    const measured = await drive(PER_LEVEL, c, deliver);
    levels[`c${c}`] = {
      bridge: measured,
      floor,
      ratio: Math.round((measured.perSecond / floor.perSecond) * 100) / 100,
    };
    console.log(
      `concurrency ${c}: bridge ${JSON.stringify(measured)} floor ${JSON.stringify(floor)}`,
    );
  }

  const dispatched = bridge.lines().filter((l) => l.outcome === 'dispatched');
  const ops = dispatched.map((l) => l.firestore as { writes: number; reads: number });
  const mean = (xs: number[]) =>
    Math.round((xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)) * 100) / 100;
  const firestoreOps = {
    writesPerRequest: mean(ops.map((o) => o.writes)),
    readsPerRequest: mean(ops.map((o) => o.reads)),
    requests: ops.length,
  };
  console.log(`firestore ops per fresh request: ${JSON.stringify(firestoreOps)}`);

  const pid = bridge.child.pid ?? 0;
  const rssBefore = rssMb(pid);
  const bulk = await drive(RSS_DELIVERIES, 16, deliver);
  const rssAfter = rssMb(pid);
  console.log(
    `RSS ${rssBefore} MB → ${rssAfter} MB after ${RSS_DELIVERIES} deliveries (${bulk.perSecond}/s)`,
  );
  console.log(
    JSON.stringify({
      bench: 'bridge',
      oidc: true,
      perLevel: PER_LEVEL,
      levels,
      ratioAt32: levels.c32?.ratio,
      firestoreOps,
      rssMb: { start: rssBefore, afterDeliveries: rssAfter, deliveries: RSS_DELIVERIES },
    }),
  );
} finally {
  await killAllChildren();
  await certs.close();
  await run.close();
  await emulator.stop();
  await firestore.terminate();
  await firestoreEmulator.stop();
}
