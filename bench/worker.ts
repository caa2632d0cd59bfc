/**
 * `npm run bench:worker`: the worker's cold start (spawn → task document `running`, next to
 * `node -e 0`), the cost of one progress() call (next to an empty call), and a 1,000-task
 * fan-out's load on the job document. The last line is one JSON object with the figures.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { DocumentReference, Firestore, Transaction } from '@google-cloud/firestore';
import { startGoogleEmulator } from '../src/devstack/google-emulators.ts';
import { silentLogger } from '../src/log.ts';
import { parseWorkerConfig } from '../src/worker/config.ts';
import { toTaskProgress } from '../src/worker/context.ts';
import { ProgressWriter } from '../src/worker/progress-writer.ts';
import { runTask } from '../src/worker/run-task.ts';
import type { FunctionRegistry } from '../src/worker/function-types.ts';

const ROOT = join(import.meta.dirname, '..');
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
  args: string[],
  env: Record<string, string>,
  until?: () => Promise<void>,
): Promise<number> {
  const start = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: 'ignore',
  });
  if (until) await until();
  else await once(child, 'exit');
  const ms = performance.now() - start;
  if (child.exitCode === null) await once(child, 'exit');
  return ms;
}

// 1. Cold start.
const bare: number[] = [];
const work: number[] = [];
for (let i = 0; i < 6; i++) {
  bare.push(await timeSpawn(['-e', '0'], {}));
  const id = `cold-${i}`;
  await createJob(id, 1);
  const ref = db.collection('jobs').doc(id).collection('tasks').doc('0');
  work.push(
    await timeSpawn(
      [join(ROOT, 'src', 'cli.ts'), 'work', 'simulate', '--steps', '0'],
      {
        FIRESTORE_EMULATOR_HOST: firestore.host,
        GOOGLE_CLOUD_PROJECT: projectId,
        JOBBRIDGE_REQUEST_ID: id,
        LOG_LEVEL: 'warn',
      },
      () =>
        new Promise<void>((resolve) => {
          const stop = ref.onSnapshot((s) => {
            if (s.exists) {
              stop();
              resolve();
            }
          });
        }),
    ),
  );
}
// The first run fills the compile cache and the OS file cache: report the steady state.
const coldStart = { nodeBareMs: median(bare.slice(1)), workToRunningMs: median(work.slice(1)) };

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
// machine's process start, not the Firestore design) with every Firestore call counted.
const counts = {
  reads: 0,
  writes: 0,
  aggregations: 0,
  transactions: 0,
  jobWrites: [] as number[],
  jobWriteAttemptsRefused: 0,
};
const jobPath = (p: string) => /^jobs\/[^/]+$/.test(p);
const wrap = <T extends object>(
  proto: T,
  name: keyof T,
  count: (self: unknown, args: unknown[]) => void,
) => {
  const original = proto[name] as (...a: unknown[]) => unknown;
  (proto as Record<string, unknown>)[name as string] = function (
    this: unknown,
    ...args: unknown[]
  ) {
    count(this, args);
    return original.apply(this, args);
  };
};
wrap(DocumentReference.prototype, 'get', () => counts.reads++);
wrap(DocumentReference.prototype, 'create', () => counts.writes++);
wrap(DocumentReference.prototype, 'update', () => counts.writes++);
// Job-document writes that landed (a precondition that fails is an attempt, not a write).
// eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound with apply below
const update = DocumentReference.prototype.update;
DocumentReference.prototype.update = function (
  this: DocumentReference,
  ...args: Parameters<typeof update>
) {
  const p = update.apply(this, args);
  if (jobPath(this.path))
    p.then(
      () => counts.jobWrites.push(Date.now()),
      () => counts.jobWriteAttemptsRefused++,
    );
  return p;
} as typeof update;
wrap(Firestore.prototype, 'getAll', () => counts.reads++);
wrap(
  Object.getPrototypeOf(db.collection('x').count()) as object,
  'get' as never,
  () => counts.aggregations++,
);
// Transactions write the job document only when they commit: markJobRunning (once) and the terminal state (once).
void Transaction;
wrap(Firestore.prototype, 'runTransaction', () => counts.transactions++);

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
        db,
        config,
        registry,
        functionName: 'noop',
        args: [],
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
const maxIn5s = Math.max(
  ...counts.jobWrites.map((t) => counts.jobWrites.filter((u) => u >= t && u < t + 5000).length),
);
const ops = counts.reads + counts.writes + counts.aggregations;
const fanOut = {
  tasks: TASKS,
  seconds,
  tasksPerSecond: TASKS / seconds,
  jobWrites: counts.jobWrites.length + 2,
  jobWriteAttemptsRefused: counts.jobWriteAttemptsRefused,
  jobWritesPerSecondMax5s: maxIn5s / 5,
  firestoreOpsPerTask: ops / TASKS,
  readsPerTask: counts.reads / TASKS,
  writesPerTask: counts.writes / TASKS,
  aggregationsPerTask: counts.aggregations / TASKS,
  transactions: counts.transactions,
  finalState: job.state,
  finalSucceeded: job.tasks.succeeded,
  finalRatio: job.progress.ratio,
};

await db.terminate();
await firestore.stop();
const figures = {
  coldStart: { ...coldStart, overBareMs: coldStart.workToRunningMs - coldStart.nodeBareMs },
  progressCall: { ns: progressNs, emptyCallNs: emptyNs, ratio: progressNs / emptyNs },
  fanOut,
};
console.log(
  `cold start: work → running ${coldStart.workToRunningMs.toFixed(0)} ms, node -e 0 ${coldStart.nodeBareMs.toFixed(0)} ms`,
);
console.log(
  `progress(): ${progressNs.toFixed(1)} ns per call (empty call ${emptyNs.toFixed(1)} ns)`,
);
console.log(
  `fan-out ${TASKS}: ${seconds.toFixed(1)} s, job writes ${fanOut.jobWrites} (max ${fanOut.jobWritesPerSecondMax5s}/s over 5 s), ${fanOut.firestoreOpsPerTask.toFixed(2)} ops/task, final ${job.state}`,
);
console.log(JSON.stringify(figures));
void sink;
