/**
 * `npm run bench:worker`: the worker's cold start (spawn of the image's entrypoint →
 * task document `running`, next to `node -e 0`), the cost of one progress() call (next to an
 * empty call), and a 1,000-task fan-out's Firestore operations and load on the job document.
 * The last line is one JSON object with the figures.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Firestore } from '@google-cloud/firestore';
import { startGoogleEmulator } from '../src/devstack/google-emulators.ts';
import { bundleApp } from './lib/bundle.ts';
import { countFirestoreRpcs } from './lib/firestore-rpc-counter.ts';
import { maxInWindow } from './reliability/burst-run.ts';
import { silentLogger } from '../src/log.ts';
import { parseWorkerConfig } from '../src/config/index.ts';
import { toTaskProgress } from '../src/worker/context.ts';
import { createWorkerFirestore } from '../src/worker/firestore-client.ts';
import { ProgressWriter } from '../src/worker/progress-writer.ts';
import { runTask } from '../src/worker/run-task.ts';
import { ownTaskIdentity } from '../src/worker/task-identity.ts';
import type { FunctionRegistry } from '../src/worker/function-types.ts';

const ROOT = join(import.meta.dirname, '..');

// The image's layout, as the Dockerfile builds it: the entrypoint script and the esbuild bundle.
const app = bundleApp('bench-worker-app-');
const ENTRYPOINT = app.entrypoint;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const firestore = await startGoogleEmulator('firestore');
process.env.FIRESTORE_EMULATOR_HOST = firestore.host;
const projectId = `bench-${Date.now()}`;
const db = new Firestore({ projectId });

async function createJob(id: string, taskCount: number): Promise<void> {
  const now = new Date();
  await db
    .collection('jobs')
    .doc(id)
    .set({
      requestId: id,
      state: 'dispatched',
      job: 'bench',
      function: 'noop',
      args: [],
      envNames: [],
      taskCount,
      timeoutSeconds: 600,
      labels: {},
      source: { messageId: id },
      dispatch: { leaseOwner: null, leaseExpiresAt: null, attempts: 1 },
      createdAt: now,
      updatedAt: now,
      dispatchedAt: now,
      expireAt: new Date(now.getTime() + 86_400_000),
    });
}

async function timeSpawn(
  command: string,
  args: string[],
  env: Record<string, string>,
  until?: () => Promise<void>,
): Promise<number> {
  const start = performance.now();
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: 'ignore',
  });
  const exited = once(child, 'exit');
  if (until) await Promise.race([until(), exited]);
  else await exited;
  const ms = performance.now() - start;
  if (child.exitCode === null) await once(child, 'exit');
  return ms;
}

// 1. Cold start: a fresh container each time, so an empty compile cache per run. The task doc
// is watched from here (onSnapshot) before the spawn.
// Each round also times the CLI from its sources, unbundled (the same node flags), to show what
// the bundle saves.
const bare: number[] = [];
const work: number[] = [];
const unbundled: number[] = [];
const coldStartOnce = async (
  id: string,
  command: string,
  commandArgs: string[],
  into: number[],
): Promise<void> => {
  await createJob(id, 1);
  const ref = db.collection('jobs').doc(id).collection('tasks').doc('0');
  let resolveSeen: () => void = () => undefined;
  const seen = new Promise<void>((resolve) => (resolveSeen = resolve));
  const stop = ref.onSnapshot((s) => {
    if (s.exists) resolveSeen();
  });
  await new Promise((r) => setTimeout(r, 200)); // the listener is live before the spawn
  const cache = mkdtempSync(join(tmpdir(), 'bench-cc-'));
  into.push(
    await timeSpawn(
      command,
      [...commandArgs, 'work', 'simulate', '--steps', '0'],
      {
        FIRESTORE_EMULATOR_HOST: firestore.host,
        GOOGLE_CLOUD_PROJECT: projectId,
        JOBBRIDGE_REQUEST_ID: id,
        LOG_LEVEL: 'warn',
        NODE_COMPILE_CACHE: cache,
      },
      () => seen,
    ),
  );
  stop();
  rmSync(cache, { recursive: true, force: true });
  if ((await ref.get()).data()?.state !== 'succeeded')
    throw new Error(`cold-start task ${id} did not succeed`);
};
for (let i = 0; i < 8; i++) {
  bare.push(await timeSpawn(process.execPath, ['-e', '0'], {}));
  await coldStartOnce(`cold-${i}`, ENTRYPOINT, [], work);
  await coldStartOnce(`cold-src-${i}`, process.execPath, [join(ROOT, 'src', 'cli.ts')], unbundled);
}
// The first run fills the OS file cache: report the steady state.
const coldStart = {
  entrypoint:
    'scripts/docker-entrypoint.sh → node dist/bundle/jobbridge.mjs work simulate --steps 0',
  nodeBareMs: median(bare.slice(1)),
  workToRunningMs: median(work.slice(1)),
  runsMs: work.map((x) => Math.round(x)),
  unbundledMs: median(unbundled.slice(1)),
  unbundledRunsMs: unbundled.map((x) => Math.round(x)),
};

// 2. progress() cost.
const writer = new ProgressWriter({
  sink: { progress: () => Promise.resolve() },
  log: silentLogger(),
  intervalMs: 1000,
  heartbeatIntervalMs: 60_000,
  isRetryable: () => true,
  isFenced: () => false,
});
const N = 1_000_000;
let sink = 0;
const empty = (d: number, t: number) => {
  sink += d - t;
};
let t0 = performance.now();
for (let i = 0; i < N; i++) empty(i, N);
const emptyNs = ((performance.now() - t0) * 1e6) / N;
t0 = performance.now();
for (let i = 0; i < N; i++) writer.report(toTaskProgress(i, N, 'step'));
const progressNs = ((performance.now() - t0) * 1e6) / N;
await writer.stop();

// 3. 1,000-task fan-out, tasks run in-process (1,000 node processes would measure the 2-core
// machine's process start, not the Firestore design) on the worker's own client (REST), with
// every Firestore RPC counted where the client sends it (bench/lib/firestore-rpc-counter.ts:
// commit, batchGetDocuments, runAggregationQuery, runQuery, beginTransaction, rollback).
const workerDb = createWorkerFirestore({ projectId, emulatorHost: firestore.host });
const count = countFirestoreRpcs(workerDb);

const TASKS = 1000;
const CONCURRENCY = 50;
await createJob('fan-1000', TASKS);
const registry: FunctionRegistry = {
  noop: () =>
    Promise.resolve({
      default: (ctx) => {
        ctx.progress(1, 2);
        ctx.progress(2, 2);
      },
    }),
};
const started = Date.now();
let next = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < TASKS) {
      const index = next++;
      const config = parseWorkerConfig({
        JOBBRIDGE_REQUEST_ID: 'fan-1000',
        CLOUD_RUN_TASK_INDEX: String(index),
        CLOUD_RUN_TASK_COUNT: String(TASKS),
        GOOGLE_CLOUD_PROJECT: projectId,
        JOBBRIDGE_MAX_RETRIES: '3',
      });
      await runTask({
        db: workerDb,
        config,
        registry,
        identity: ownTaskIdentity(config, 'noop', []),
        log: silentLogger(),
        signals: new EventEmitter(),
      });
    }
  }),
);
const seconds = (Date.now() - started) / 1000;
const job = (await db.collection('jobs').doc('fan-1000').get()).data() as {
  state: string;
  tasks: { succeeded: number };
  progress: { ratio: number };
};
// Sustained job-document write rate: the highest count in any 5 s window, per second.
const maxIn5s = maxInWindow(count.jobDocumentCommits, 5000);
const { rpcs } = count;
const ops = Object.values(rpcs).reduce((a, b) => a + b, 0);
const fanOut = {
  tasks: TASKS,
  concurrency: CONCURRENCY,
  seconds,
  tasksPerSecond: TASKS / seconds,
  jobWrites: count.jobDocumentCommits.length,
  jobWritesRefused: count.jobDocumentCommitsRefused,
  jobWritesPerSecondMax5s: maxIn5s / 5,
  firestoreOpsPerTask: ops / TASKS,
  rpcs,
  finalState: job.state,
  finalSucceeded: job.tasks.succeeded,
  finalRatio: job.progress.ratio,
};

count.stop();
await workerDb.terminate();
await db.terminate();
await firestore.stop();
app.remove();
const figures = {
  coldStart: {
    ...coldStart,
    overBareMs: coldStart.workToRunningMs - coldStart.nodeBareMs,
    unbundledOverBareMs: coldStart.unbundledMs - coldStart.nodeBareMs,
    bundleRatio: coldStart.workToRunningMs / coldStart.unbundledMs,
  },
  progressCall: { ns: progressNs, emptyCallNs: emptyNs, ratio: progressNs / emptyNs },
  fanOut,
};
console.log(
  `cold start: work → running ${coldStart.workToRunningMs.toFixed(0)} ms (bundle, the entrypoint), ${coldStart.unbundledMs.toFixed(0)} ms (node src/cli.ts, unbundled), node -e 0 ${coldStart.nodeBareMs.toFixed(0)} ms`,
);
console.log(
  `progress(): ${progressNs.toFixed(1)} ns per call (empty call ${emptyNs.toFixed(1)} ns)`,
);
console.log(
  `fan-out ${TASKS}: ${seconds.toFixed(1)} s, job writes ${fanOut.jobWrites} (+${fanOut.jobWritesRefused} refused; max ${fanOut.jobWritesPerSecondMax5s}/s over 5 s), ${fanOut.firestoreOpsPerTask.toFixed(2)} ops/task, final ${job.state}`,
);
console.log(JSON.stringify(figures));
void sink;
