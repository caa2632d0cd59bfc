/**
 * `npm run bench:bridge`: one `jobbridge serve` process (OIDC verification on) against the
 * Firestore emulator and the Cloud Run Jobs emulator, at 1, 8 and 32 concurrent deliveries, next
 * to the I/O floor measured in the same run (bench/bridge-floor.ts: the same Firestore create,
 * RunJob call and preconditioned update, issued directly from a process of its own). Levels are
 * repeated (BENCH_REPEATS, default 5, of BENCH_PER_LEVEL, default 200) with floor and bridge taking turns to go first, and the
 * ratio is reported per repeat with its median. Then Firestore operations per fresh request, from
 * the bridge's own counts in its log lines, and the bridge's memory: RSS at start, after the
 * level runs and after BENCH_RSS_DELIVERIES (default 10,000) more deliveries, each with heapUsed
 * after a forced GC.
 *
 * The bridge runs as production runs it: compiled (`npm run build`, then `node dist/src/cli.js
 * serve`), with the heap the image's entrypoint gave it until the worker became the one part that
 * sizes its heap, in a BENCH_CONTAINER_MIB (default 512, Cloud Run's default) container:
 * `--max-old-space-size-percentage=75` there means a 384 MB old space (the figures in
 * docs/benchmarks.md were measured so), and Node sizes the young generation from the container's memory limit (1 MB
 * semi-spaces at 512 MiB; checked in a 512 MiB memory cgroup: heap_size_limit 387 MiB). A
 * machine without that limit would get 64 MB semi-spaces, so the bench passes both sizes
 * explicitly. BENCH_CONTAINER_MIB=0 passes no heap flags; BENCH_FROM_SOURCE=1 runs src/cli.ts.
 * The floor process gets the same heap flags. The last line printed is one JSON object.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startGoogleEmulator } from '../src/devstack/google-emulators.ts';
import { startRunEmulator } from '../src/emulator/index.ts';
import { killAllChildren, startChildBridge, type ChildBridge } from './lib/child-bridge.ts';
import { AUDIENCE, PUSH_SA, pushToken, signingKey, startCertServer } from './lib/tokens.ts';
import { drive, type Figures } from './drive.ts';

const JOB = 'bench-job';
const REGION = 'asia-northeast1';
const PER_LEVEL = Number(process.env.BENCH_PER_LEVEL ?? 200);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const RSS_DELIVERIES = Number(process.env.BENCH_RSS_DELIVERIES ?? 10_000);
const CONTAINER_MIB = Number(process.env.BENCH_CONTAINER_MIB ?? 512);
const FROM_SOURCE = process.env.BENCH_FROM_SOURCE === '1';
const LEVELS = [1, 8, 32];

const root = fileURLToPath(new URL('..', import.meta.url));
const probe = fileURLToPath(new URL('bridge-memory-probe.ts', import.meta.url));
const floorScript = fileURLToPath(new URL('bridge-floor.ts', import.meta.url));

/**
 * The heap a CONTAINER_MIB container gives Node 24 under the image's entrypoint. Up to 512 MiB,
 * V8's young generation is at its minimum (1 MB semi-spaces); larger sizes are not modelled.
 */
function heapFlagsFor(containerMiB: number): string[] {
  if (containerMiB === 0) return [];
  if (containerMiB > 512 || containerMiB < 128) {
    throw new Error('BENCH_CONTAINER_MIB: 128..512 (modelled) or 0 (no heap flags)');
  }
  return [`--max-old-space-size=${Math.floor(containerMiB * 0.75)}`, '--max-semi-space-size=1'];
}
const heapFlags = heapFlagsFor(CONTAINER_MIB);

function cliEntry(): string {
  if (FROM_SOURCE) return `${root}src/cli.ts`;
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const entry = `${root}dist/src/cli.js`;
  if (!existsSync(entry)) throw new Error(`npm run build did not produce ${entry}`);
  return entry;
}

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(match?.[1] ?? 0) / 1024);
}

/** CPU time (user + system) the process has used so far, in ms (from /proc, 10 ms ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 10;
}

/** Signals the bridge's memory probe and waits for its answer (after a forced GC). */
async function probeMemory(bridge: ChildBridge): Promise<Record<string, unknown>> {
  const probes = () => [...bridge.stderr().matchAll(/^PROBE (.*)\n/gm)].map((m) => m[1] ?? '');
  const count = () => probes().length;
  const before = count();
  bridge.child.kill('SIGUSR2');
  const deadline = Date.now() + 10_000;
  while (count() === before) {
    if (Date.now() > deadline) throw new Error('the bridge did not answer the memory probe');
    await new Promise((r) => setTimeout(r, 20));
  }
  return JSON.parse(probes().at(-1) ?? '{}') as Record<string, unknown>;
}

/** The floor's own process: one command a line in, one line of figures out. */
function startFloor(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [...heapFlags, floorScript], {
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done === true) throw new Error('the floor process exited');
    return JSON.parse(value) as Figures & { ready?: boolean; cpuMsPerOp: number };
  };
  return {
    ready: next(),
    async run(count: number, concurrency: number): Promise<Figures & { cpuMsPerOp: number }> {
      child.stdin.write(`${JSON.stringify({ count, concurrency })}\n`);
      return next();
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      await exited;
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const r2 = (n: number) => Math.round(n * 100) / 100;

const entry = cliEntry();
const firestoreEmulator = await startGoogleEmulator('firestore');
const projectId = `bench-${randomUUID().slice(0, 8)}`;
const emulator = await startRunEmulator({
  jobs: { jobs: { [JOB]: { command: ['/bin/true'] } } },
  log: () => {},
});
const key = signingKey('bench-key');
const certs = await startCertServer([key]);
const shared = {
  PATH: process.env.PATH,
  GOOGLE_CLOUD_PROJECT: projectId,
  JOBBRIDGE_REGION: REGION,
  FIRESTORE_EMULATOR_HOST: firestoreEmulator.host,
  CLOUD_RUN_EMULATOR_HOST: emulator.host,
};
const floor = startFloor({ ...shared, BENCH_JOB: JOB });
try {
  const nodeArgs = [...heapFlags, '--expose-gc', '--import', probe];
  const bridge = await startChildBridge(
    {
      ...shared,
      NODE_ENV: 'production',
      JOBBRIDGE_JOBS: JOB,
      // Its requests carry raw args, which a job's policy must allow.
      JOBBRIDGE_JOB_POLICY: JSON.stringify({ [JOB]: { rawArgs: true } }),
      JOBBRIDGE_PUSH_AUDIENCE: AUDIENCE,
      JOBBRIDGE_PUSH_SERVICE_ACCOUNT: PUSH_SA,
      JOBBRIDGE_PUSH_CERTS_URL: certs.url,
      JOBBRIDGE_LISTEN_HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      // The bench measures the bridge's own cost: its RunJob quota guard must not be the limit.
      JOBBRIDGE_RUNJOB_PER_MINUTE: '1000000',
      JOBBRIDGE_RUNJOB_BURST: '1000000',
    },
    20_000,
    { cli: entry, nodeArgs },
  );
  await floor.ready;
  const pid = bridge.child.pid ?? 0;
  const memory: Record<string, unknown> = {
    start: { rssMb: rssMb(pid), deliveries: 0, afterGc: await probeMemory(bridge) },
  };
  // One token for the run, as Pub/Sub reuses one until it nears expiry.
  const authorization = `Bearer ${pushToken(key)}`;
  let delivered = 0;
  /** One push of a fresh request; its status and outcome. */
  const push = async (): Promise<{ status: number; outcome: string }> => {
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
    const answer = (await res.json().catch(() => ({}))) as { outcome?: string };
    delivered++;
    return { status: res.status, outcome: answer.outcome ?? '?' };
  };
  const deliver = async () => {
    const { status, outcome } = await push();
    if (status !== 201) throw new Error(`delivery answered ${status} ${outcome}`);
  };
  // Warm-up: connections, certificate fetch, JIT. A cold first call can outlast the answer budget
  // on a loaded machine (503 budget-exceeded, which Pub/Sub would redeliver): not counted.
  const warmUpAnswers: Record<string, number> = {};
  await drive(30, 4, async () => {
    const { status, outcome } = await push();
    const k = `${status} ${outcome}`;
    warmUpAnswers[k] = (warmUpAnswers[k] ?? 0) + 1;
  });
  process.stderr.write(`[bridge] warm-up answers: ${JSON.stringify(warmUpAnswers)}\n`);
  await floor.run(30, 4);

  type Run = Figures & { cpuMsPerOp: number };
  const runs: Record<string, { bridge: Run[]; floor: Run[]; ratios: number[] }> = {};
  /** A bridge level run, with the bridge process's CPU per delivery. */
  const bridgeRun = async (c: number): Promise<Run> => {
    const cpu = cpuMs(pid);
    const figures = await drive(PER_LEVEL, c, deliver);
    return { ...figures, cpuMsPerOp: r2((cpuMs(pid) - cpu) / PER_LEVEL) };
  };
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    for (const c of LEVELS) {
      const level = (runs[`c${c}`] ??= { bridge: [], floor: [], ratios: [] });
      // Taking turns to go first spreads any drift of the shared machine over both sides.
      const bridgeFirst = (repeat + c) % 2 === 0;
      let b: Run | undefined;
      if (bridgeFirst) b = await bridgeRun(c);
      const f = await floor.run(PER_LEVEL, c);
      b ??= await bridgeRun(c);
      level.bridge.push(b);
      level.floor.push(f);
      level.ratios.push(r2(b.perSecond / f.perSecond));
      console.log(
        `repeat ${repeat + 1} c${c}: bridge ${JSON.stringify(b)} floor ${JSON.stringify(f)}`,
      );
    }
  }
  const levels = Object.fromEntries(
    Object.entries(runs).map(([name, level]) => {
      const pick = (xs: Run[], k: keyof Run) => r2(median(xs.map((x) => x[k])));
      const summary = (xs: Run[]) => ({
        perSecond: pick(xs, 'perSecond'),
        p50Ms: pick(xs, 'p50Ms'),
        p99Ms: pick(xs, 'p99Ms'),
        cpuMsPerOp: pick(xs, 'cpuMsPerOp'),
      });
      return [
        name,
        {
          bridge: summary(level.bridge),
          floor: summary(level.floor),
          ratioMedian: r2(median(level.ratios)),
          ratios: level.ratios,
          ratioMin: Math.min(...level.ratios),
          ratioMax: Math.max(...level.ratios),
        },
      ];
    }),
  );

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

  memory.afterLevels = {
    rssMb: rssMb(pid),
    deliveries: delivered,
    afterGc: await probeMemory(bridge),
  };
  const before = delivered;
  const bulk = await drive(RSS_DELIVERIES, 16, deliver);
  // Read before the probe's forced GC: what the process holds after the load, as is.
  const rssAfter = rssMb(pid);
  memory.afterBulk = {
    rssMb: rssAfter,
    deliveries: delivered,
    bulkDeliveries: delivered - before,
    bulkPerSecond: bulk.perSecond,
    afterGc: await probeMemory(bridge),
  };
  console.log(`memory: ${JSON.stringify(memory)}`);
  console.log(
    JSON.stringify({
      bench: 'bridge',
      oidc: true,
      bridgeRuns: FROM_SOURCE ? 'node src/cli.ts serve' : 'node dist/src/cli.js serve',
      containerMiB: CONTAINER_MIB,
      nodeFlags: nodeArgs.filter((a) => a.startsWith('--max')),
      perLevel: PER_LEVEL,
      repeats: REPEATS,
      levels,
      ratioAt32: levels.c32?.ratioMedian,
      firestoreOps,
      memory,
      rssTargetMb: 150,
    }),
  );
} finally {
  await floor.stop().catch(() => undefined);
  await killAllChildren();
  await certs.close();
  await emulator.stop();
  await firestoreEmulator.stop();
}
