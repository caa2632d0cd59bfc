/**
 * `npm run bench:burst`: the bursts of DESIGN.md's "Admission and dispatch", at full size.
 *
 * 1. Through `npm start` (`jobbridge dev`, its Cloud Run Jobs emulator at Cloud Run's default run
 *    quota unless `--quota Q`): `--requests N` (300) `simulate` requests and `--invalid K` (10)
 *    invalid messages published at once. Counts every job's end state, executions per request,
 *    dead letters, the bridge's answers by status and outcome (a non-2xx is a bounce), the most
 *    RunJob calls in any 60 s, and the drain and wall times next to the floor (N ÷ the quota)
 *    measured in the same run.
 *    Run twice: with batches (`--batch-max K`, 100: compatible queued requests start together as
 *    one execution) and without (JOBBRIDGE_BATCH_MAX_REQUESTS=1, one execution per request). The
 *    run without batches is measured to the end: at the quota that takes N ÷ quota minutes (10 at
 *    the must-show's 200 and 20 a minute), so the bench takes that long. `--unbatched-ms T` stops
 *    it after T ms and extrapolates its wall time from the rate it reached (said in the figures).
 * 2. Two `jobbridge serve` instances (the image's bundle, as Cloud Run starts it), each with its
 *    own push subscription on one topic (every message reaches both) and the dead-letter topic
 *    pushed to both, a 30 % share of duplicates, both SIGKILLed at random and restarted at once,
 *    one at a time (`--two-bridge-requests`, 300; 0 leaves this arm out). Counts requests lost,
 *    failed and dead-lettered apart from messages that reached the dead-letter topic.
 *
 * 3. A larger burst (`--dispatch-requests N`, 2000): N function requests queued in Firestore,
 *    drained by the bridge's own Drainer against the Cloud Run Jobs emulator, then every task of
 *    every execution run in-process through the worker's own code (`runTask`, `runBatchTask`
 *    for a batch's tasks), as the 1,000-task fan-out of bench:worker does (2,000 node processes
 *    would measure the 2-core machine's process start), with batches and without: requests per
 *    RunJob call, Firestore reads and writes per request (dispatch, worker, both), and the rate
 *    of job-document writes.
 *
 * `--arms npm-start,two-bridge,dispatch` (all by default) runs only the arms named. `--dev-log P`
 * keeps each npm start run's output (every line stamped with its epoch ms) in `P-<batch max>.log`.
 *
 * Prints progress on stderr and, as its last line, one JSON object with the figures. Exit code 1
 * if any promise was broken.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { DEFAULT_JOB_POLICY } from '../src/contract/index.ts';
import {
  createDispatchStores,
  Drainer,
  MaxRetriesCache,
  QueueKnowledge,
  RunBudget,
} from '../src/dispatch/index.ts';
import { startRunEmulator } from '../src/emulator/index.ts';
import { createFirestore } from '../src/google-clients.ts';
import { CloudRunLauncher, type Launcher, type LaunchRequest } from '../src/launcher/index.ts';
import { newOpCount } from '../src/store/job-ops.ts';
import { READY_LINE } from '../src/devstack/next-steps.ts';
import { CLOUD_RUN_DEFAULT_QUOTAS } from '../src/emulator/index.ts';
import { createRunClients } from '../src/launcher/index.ts';
import { publishJob } from '../src/producer/index.ts';
import { parseWorkerConfig } from '../src/config/index.ts';
import { silentLogger } from '../src/log.ts';
import { batchReader } from '../src/store/batch-read.ts';
import { runBatchTask } from '../src/worker/batch-task.ts';
import { createWorkerFirestore } from '../src/worker/firestore-client.ts';
import type { FunctionRegistry } from '../src/worker/function-types.ts';
import { runTask } from '../src/worker/run-task.ts';
import { ownTaskIdentity } from '../src/worker/task-identity.ts';
import { countFirestoreRpcs } from './lib/firestore-rpc-counter.ts';
import { countMessages, maxInWindow, runBurst, type BurstReport } from './reliability/burst-run.ts';
import { numberArg, withGoogleEmulators } from './reliability/google.ts';
import { createTimesMs } from './reliability/create-times.ts';
import { bundleApp } from './lib/bundle.ts';
import { slicesPerRequest } from './lib/slices.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const requests = numberArg('requests', 'BURST_REQUESTS', 300);
const invalid = numberArg('invalid', 'BURST_INVALID', 10);
const quota = numberArg('quota', 'BURST_QUOTA', CLOUD_RUN_DEFAULT_QUOTAS.runJobPerMinute);
// 0 leaves the arm out (numberArg takes only positive numbers).
const twoBridgeRequests =
  (process.argv[process.argv.indexOf('--two-bridge-requests') + 1] ??
    process.env.BURST_TWO_BRIDGE_REQUESTS) === '0'
    ? 0
    : numberArg('two-bridge-requests', 'BURST_TWO_BRIDGE_REQUESTS', 300);
const batchMax = numberArg('batch-max', 'BURST_BATCH_MAX', 100);
// Unset: the run without batches is measured to the end.
const unbatchedMs =
  process.argv.includes('--unbatched-ms') || process.env.BURST_UNBATCHED_MS !== undefined
    ? numberArg('unbatched-ms', 'BURST_UNBATCHED_MS', 1)
    : Number.POSITIVE_INFINITY;
const ARMS = ['npm-start', 'two-bridge', 'dispatch'] as const;
const armsArg =
  (process.argv.includes('--arms')
    ? process.argv[process.argv.indexOf('--arms') + 1]
    : process.env.BURST_ARMS) ?? ARMS.join(',');
const arms = new Set(armsArg.split(',').map((a) => a.trim()));
for (const a of arms)
  if (!(ARMS as readonly string[]).includes(a))
    throw new Error(`--arms: unknown arm "${a}" (arms: ${ARMS.join(', ')})`);
const dispatchRequests = numberArg('dispatch-requests', 'BURST_DISPATCH_REQUESTS', 2000);
const say = (line: string) => process.stderr.write(`[burst] ${line}\n`);
// `--dev-log PREFIX`: each npm start run's output goes to PREFIX-<batch max>.log as well.
const devLog = process.argv.includes('--dev-log')
  ? process.argv[process.argv.indexOf('--dev-log') + 1]
  : process.env.BURST_DEV_LOG;

interface NpmStartReport {
  /** JOBBRIDGE_BATCH_MAX_REQUESTS of the run's bridge (1: one execution per request). */
  batchMaxRequests: number;
  requests: number;
  invalid: number;
  quotaPerMinute: number;
  states: Record<string, number>;
  succeeded: number;
  failed: number;
  rejected: number;
  deadLettered: number;
  /** Requests with exactly one execution, and with any other count. */
  exactlyOneExecution: number;
  notExactlyOne: number;
  maxRunJobInAnyMinute: number;
  /** The bridge's answers to push deliveries, by HTTP status and outcome (from its log lines). */
  pushAnswers: Record<string, number>;
  /** Answers Pub/Sub would redeliver (anything but 2xx): the bounces. */
  bounced: number;
  /** First publish → the last execution started: the time the queue took to drain. */
  drainMs: number;
  /** Valid requests started per minute while draining, next to the quota (the floor's rate). */
  startedPerMinute: number;
  /** First publish → the last request succeeded. */
  wallMs: number;
  /** requests ÷ the quota: no dispatcher can start them sooner. */
  floorMs: number;
  /** drainMs ÷ floorMs: 1 is the quota's own limit. */
  drainOverFloor: number;
  /** wallMs ÷ floorMs. */
  wallOverFloor: number;
  executions: number;
  batchExecutions: number;
  requestsPerExecution: number;
  /** Set when the run was stopped before it settled: wallMs is then extrapolated. */
  measuredMs?: number;
  succeededWhenMeasured?: number;
  wallExtrapolated?: boolean;
}

/** `[bridge] warn push delivery … outcome=budget-exceeded status=503 …`: one answered push. */
const PUSH_ANSWER = /^\[bridge\] \w+ push delivery .*\boutcome=(\S+) status=(\d{3})\b/;

function startDev(
  projectId: string,
  batchMaxRequests: number,
): {
  child: ChildProcess;
  ready: Promise<{ env: Record<string, string>; run: string }>;
  exited: Promise<void>;
  pushAnswers: Record<string, number>;
} {
  // Info: the bridge logs every push delivery with its status, which is how bounces are counted.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOG_LEVEL: 'info',
    JOBBRIDGE_BATCH_MAX_REQUESTS: String(batchMaxRequests),
  };
  delete env.PUBSUB_EMULATOR_HOST;
  delete env.FIRESTORE_EMULATOR_HOST;
  const child = spawn(
    process.execPath,
    [
      CLI,
      'dev',
      '--project',
      projectId,
      '--pubsub-port',
      '0',
      '--firestore-port',
      '0',
      '--run-port',
      '0',
      '--bridge-port',
      '0',
      '--runjob-per-minute',
      String(quota),
    ],
    { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const pushAnswers: Record<string, number> = {};
  const log =
    devLog === undefined ? undefined : createWriteStream(`${devLog}-${batchMaxRequests}.log`);
  if (log) child.once('exit', () => log.end());
  if (child.stdout)
    createInterface({ input: child.stdout }).on('line', (line) => {
      log?.write(`${Date.now()} ${line}\n`);
      const [, outcome, status] = PUSH_ANSWER.exec(line) ?? [];
      if (status === undefined) return;
      const key = `${status} ${outcome ?? '?'}`;
      pushAnswers[key] = (pushAnswers[key] ?? 0) + 1;
    });
  const ready = new Promise<{ env: Record<string, string>; run: string }>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString('utf8');
      if (!output.includes(READY_LINE)) return;
      const line = /^\s*export (.+)$/m.exec(output)?.[1];
      const run = /Cloud Run Jobs emulator\s+(\S+)/.exec(output)?.[1];
      if (line === undefined || run === undefined) return;
      child.stdout?.off('data', onData);
      resolve({
        env: Object.fromEntries(line.split(' ').map((p) => p.split('=', 2) as [string, string])),
        run,
      });
    };
    child.stdout?.on('data', onData);
    let errors = '';
    child.stderr?.on('data', (d: Buffer) => (errors = (errors + d.toString('utf8')).slice(-4000)));
    child.once('exit', (code) =>
      reject(new Error(`jobbridge dev exited (${code}):\n${output}\n${errors}`)),
    );
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, ready, exited, pushAnswers };
}

async function throughNpmStart(
  batchMaxRequests: number,
  measureForMs: number,
): Promise<NpmStartReport> {
  const projectId = `burst-${randomUUID().slice(0, 8)}`;
  const dev = startDev(projectId, batchMaxRequests);
  try {
    const { env, run: runHost } = await dev.ready;
    say(`jobbridge dev is ready (quota ${quota} RunJob a minute)`);
    process.env.PUBSUB_EMULATOR_HOST = env.PUBSUB_EMULATOR_HOST;
    process.env.FIRESTORE_EMULATOR_HOST = env.FIRESTORE_EMULATOR_HOST;
    const pubsub = new PubSub({ projectId });
    const firestore = new Firestore({ projectId, preferRest: false });
    const run = createRunClients({ emulatorHost: runHost, projectId });
    const topicName = env.JOBBRIDGE_TOPIC ?? 'jobbridge-requests';
    const topic = pubsub.topic(topicName);
    try {
      const ids = Array.from({ length: requests }, (_, i) => `burst-${i}-${randomUUID()}`);
      const bad = Array.from({ length: invalid }, (_, i) => `burst-bad-${i}-${randomUUID()}`);
      const started = Date.now();
      await Promise.all([
        ...ids.map((requestId) =>
          publishJob(pubsub, topic, {
            requestId,
            job: 'simulate',
            function: 'simulate',
            args: ['--steps', '1', '--step-ms', '10'],
          }),
        ),
        ...bad.map((requestId) =>
          topic.publishMessage({
            data: Buffer.from(
              JSON.stringify({ schemaVersion: 1, requestId, job: 'simulate', taskCount: 0 }),
            ),
            attributes: { requestId },
          }),
        ),
      ]);
      say(`published ${requests} + ${invalid} invalid in ${Date.now() - started} ms`);
      const all = new Set([...ids, ...bad]);
      let states: Record<string, number> = {};
      let finishedMax = 0;
      let measuredMs: number | undefined;
      for (let lastSay = 0; ;) {
        const snap = await firestore.collection('jobs').get();
        states = {};
        finishedMax = 0;
        let open = 0;
        for (const doc of snap.docs) {
          if (!all.has(doc.id)) continue;
          const state = String(doc.get('state'));
          states[state] = (states[state] ?? 0) + 1;
          if (!['succeeded', 'failed', 'cancelled', 'rejected'].includes(state)) open++;
          const f = doc.get('finishedAt') as { toMillis?: () => number } | undefined;
          if (state === 'succeeded' && f?.toMillis)
            finishedMax = Math.max(finishedMax, f.toMillis());
        }
        open += all.size - snap.docs.filter((d) => all.has(d.id)).length;
        if (open === 0) break;
        if (Date.now() - started > measureForMs) {
          measuredMs = Date.now() - started;
          break;
        }
        if (Date.now() - started > Math.max(600_000, (requests / quota) * 60_000 * 4))
          throw new Error(`not settled: ${JSON.stringify(states)}`);
        if (Date.now() - lastSay > 15_000) {
          say(`${JSON.stringify(states)} after ${Math.round((Date.now() - started) / 1000)} s`);
          lastSay = Date.now();
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      const succeededNow = states.succeeded ?? 0;
      // Stopped before it settled: the wall time at the rate it reached (said in the figures).
      const wallMs =
        measuredMs === undefined
          ? finishedMax - started
          : Math.round((measuredMs * requests) / Math.max(1, succeededNow));
      const [executions] = await run.executions.listExecutions({
        parent: `projects/${projectId}/locations/local/jobs/simulate`,
      });
      const { perRequest, batchExecutions } = await slicesPerRequest(firestore, executions);
      const exactlyOne = ids.filter((id) => perRequest.get(id) === 1).length;
      const startedCount = ids.filter((id) => (perRequest.get(id) ?? 0) > 0).length;
      const createTimes = createTimesMs(executions);
      // Dead letters land on the dev stack's dead-letter topic, whose pull subscription keeps them.
      const deadLettered = await countMessages(
        pubsub.subscription(`${topicName}-dead-letter`),
        3000,
      );
      const floorMs = Math.round((requests / quota) * 60_000);
      const drainMs = Math.max(...createTimes) - started;
      const bounced = Object.entries(dev.pushAnswers)
        .filter(([status]) => !status.startsWith('2'))
        .reduce((n, [, count]) => n + count, 0);
      return {
        batchMaxRequests,
        requests,
        invalid,
        quotaPerMinute: quota,
        states,
        succeeded: states.succeeded ?? 0,
        failed: states.failed ?? 0,
        rejected: states.rejected ?? 0,
        deadLettered,
        exactlyOneExecution: exactlyOne,
        // A run stopped early has requests not started yet: only more than one is broken then.
        notExactlyOne:
          measuredMs === undefined ? ids.length - exactlyOne : startedCount - exactlyOne,
        maxRunJobInAnyMinute: maxInWindow(createTimes, 60_000),
        pushAnswers: { ...dev.pushAnswers },
        bounced,
        drainMs,
        startedPerMinute: Math.round((executions.length / (drainMs / 60_000)) * 10) / 10,
        wallMs,
        floorMs,
        drainOverFloor: Math.round((drainMs / floorMs) * 100) / 100,
        wallOverFloor: Math.round((wallMs / floorMs) * 100) / 100,
        executions: executions.length,
        batchExecutions,
        requestsPerExecution: Math.round((startedCount / Math.max(1, executions.length)) * 10) / 10,
        ...(measuredMs !== undefined
          ? { measuredMs, succeededWhenMeasured: succeededNow, wallExtrapolated: true }
          : {}),
      };
    } finally {
      await pubsub.close();
      await run.close();
      await Promise.race([firestore.terminate(), new Promise((r) => setTimeout(r, 1000))]);
    }
  } finally {
    // Ctrl-C, as a user stops it: the dev stack stops its bridge, emulators and tasks.
    if (dev.child.pid !== undefined && dev.child.exitCode === null) {
      process.kill(-dev.child.pid, 'SIGINT');
      await Promise.race([dev.exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (dev.child.exitCode === null) process.kill(-dev.child.pid, 'SIGKILL');
    }
  }
}

/**
 * Every task of the executions the drain started, run in-process through the worker's own code
 * (`runBatchTask` for a batch's, `runTask` for a request's own), 50 at a time, on the worker's
 * Firestore client; every RPC it sends is counted, and each commit that writes a job document.
 */
async function runTasksInProcess(
  projectId: string,
  firestoreHost: string,
  launches: readonly LaunchRequest[],
) {
  const workerDb = createWorkerFirestore({ projectId, emulatorHost: firestoreHost });
  const count = countFirestoreRpcs(workerDb);
  const registry: FunctionRegistry = {
    simulate: () => Promise.resolve({ default: (ctx) => ctx.progress(1, 1) }),
  };
  const tasks = launches.flatMap((launch) =>
    Array.from({ length: launch.taskCount ?? 1 }, (_, index) => ({ launch, index })),
  );
  const started = Date.now();
  const exits: Record<string, number> = {};
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < tasks.length) {
          const { launch, index } = tasks[next++] as (typeof tasks)[number];
          const env = {
            ...launch.env,
            CLOUD_RUN_TASK_INDEX: String(index),
            CLOUD_RUN_TASK_COUNT: String(launch.taskCount ?? 1),
            CLOUD_RUN_TASK_ATTEMPT: '0',
            GOOGLE_CLOUD_PROJECT: projectId,
          };
          const batch = launch.args?.[1] === '--batch';
          const config = parseWorkerConfig(env, batch ? 'batch' : 'single');
          const common = {
            db: workerDb,
            config,
            registry,
            log: silentLogger(),
            signals: new EventEmitter(),
          };
          const code = batch
            ? await runBatchTask({ ...common, batches: batchReader(workerDb) })
            : await runTask({
                ...common,
                identity: ownTaskIdentity(
                  config,
                  launch.args?.[1] ?? '',
                  launch.args?.slice(2) ?? [],
                ),
              });
          exits[code] = (exits[code] ?? 0) + 1;
        }
      }),
    );
  } finally {
    count.stop();
    await workerDb.terminate();
  }
  const ms = Date.now() - started;
  const { rpcs, documentWrites, jobDocumentCommits, documentsRead } = count;
  const reads =
    (rpcs.batchGetDocuments ?? 0) + (rpcs.runQuery ?? 0) + (rpcs.runAggregationQuery ?? 0);
  return {
    tasks: tasks.length,
    ms,
    exits,
    rpcs,
    documentsRead,
    reads,
    documentWrites,
    jobDocumentCommits: jobDocumentCommits.length,
    // The highest count in any 5 s window, per second (bench:worker's measure).
    jobDocumentWritesPerSecondMax5s: maxInWindow(jobDocumentCommits, 5000) / 5,
  };
}

/**
 * Arm 3: `n` queued function requests, drained with `batchMaxRequests`, then their tasks run
 * in-process through the worker's code.
 */
async function dispatchArm(n: number, batchMaxRequests: number) {
  return withGoogleEmulators(async (hosts) => {
    const projectId = `burst-dispatch-${randomUUID().slice(0, 8)}`;
    const firestore = createFirestore({ projectId, emulatorHost: hosts.firestore });
    const emulator = await startRunEmulator({
      jobs: { jobs: { simulate: { command: ['/bin/true'], maxRetries: 0 } } },
      log: () => undefined,
    });
    const run = createRunClients({ emulatorHost: emulator.host, projectId });
    try {
      const cloudRun = new CloudRunLauncher(run, { project: projectId, region: 'local' });
      // Counted here: the emulator's ListExecutions answers one page of at most 1,000.
      let runJobCalls = 0;
      const launches: LaunchRequest[] = [];
      const launcher: Launcher = {
        launch: async (request) => {
          runJobCalls++;
          const launched = await cloudRun.launch(request);
          launches.push(request);
          return launched;
        },
        findExecutionsByEnv: (job, name, value) => cloudRun.findExecutionsByEnv(job, name, value),
        getExecution: (name) => cloudRun.getExecution(name),
        listTasks: (name) => cloudRun.listTasks(name),
        cancelExecution: (name) => cloudRun.cancelExecution(name),
        getJob: (job) => cloudRun.getJob(job),
      };
      const stores = createDispatchStores(firestore, 'jobs');
      const admitOps = newOpCount();
      const base = Date.now() - 60_000;
      for (let i = 0; i < n; i += 50)
        await Promise.all(
          Array.from({ length: Math.min(50, n - i) }, (_, j) => {
            const requestId = `d-${i + j}-${randomUUID()}`;
            const request = {
              schemaVersion: 1 as const,
              requestId,
              job: 'simulate',
              function: 'simulate',
              args: ['--steps', '1'],
            };
            return stores.queue.admitQueued(
              {
                docId: requestId,
                requestId,
                request,
                source: { messageId: requestId },
                owner: randomUUID(),
                now: new Date(base + i + j),
                leaseMs: 60_000,
                retentionMs: 86_400_000,
              },
              'runjob-rate',
              admitOps,
            );
          }),
        );
      const drainer = new Drainer({
        ...stores,
        launcher,
        budget: new RunBudget({
          runJobPerMinute: 1e6,
          runJobBurst: 1e5,
          maxConcurrentLaunches: 32,
        }),
        maxRetries: new MaxRetriesCache(launcher),
        jobs: new Set(['simulate']),
        policies: new Map([['simulate', DEFAULT_JOB_POLICY]]),
        leaseMs: 60_000,
        keyConcurrency: 0,
        knowledge: new QueueKnowledge(),
        batchMaxRequests,
        retentionMs: 86_400_000,
      });
      // The drain's RPCs on the bridge's client, and which documents its gets read.
      const drainRpcs = countFirestoreRpcs(firestore);
      const t0 = performance.now();
      let started = 0;
      let batches = 0;
      const ops = newOpCount();
      while (started < n) {
        const r = await drainer.drain(Date.now() + 120_000);
        started += r.started;
        batches += r.batches;
        ops.reads += r.firestore.reads;
        ops.writes += r.firestore.writes;
        if (r.started === 0) break;
      }
      const ms = performance.now() - t0;
      drainRpcs.stop();
      // The dispatch's writes on job documents: all but the batch documents' (two per batch).
      const jobDocWrites = ops.writes - 2 * batches;
      say(`${started} started in ${Math.round(ms)} ms; running their tasks in-process`);
      const worker = await runTasksInProcess(projectId, hosts.firestore, launches);
      const snap = await firestore
        .collection('jobs')
        .where('state', '==', 'succeeded')
        .count()
        .get();
      const succeeded = snap.data().count;
      const per = (x: number) => Math.round((x / n) * 100) / 100;
      const perEach = (counts: Record<string, number>) =>
        Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, per(v)]));
      return {
        requests: n,
        batchMaxRequests,
        started,
        runJobCalls,
        batches,
        requestsPerRunJob: Math.round((started / Math.max(1, runJobCalls)) * 10) / 10,
        admission: { readsPerRequest: admitOps.reads / n, writesPerRequest: admitOps.writes / n },
        drain: {
          readsPerRequest: Math.round((ops.reads / n) * 100) / 100,
          writesPerRequest: Math.round((ops.writes / n) * 100) / 100,
          rpcs: drainRpcs.rpcs,
          documentsReadPerRequest: perEach(drainRpcs.documentsRead),
        },
        drainMs: Math.round(ms),
        jobDocumentWritesPerSecond: Math.round((jobDocWrites / (ms / 1000)) * 10) / 10,
        requestsStartedPerSecond: Math.round((started / (ms / 1000)) * 10) / 10,
        succeeded,
        worker: {
          tasks: worker.tasks,
          ms: worker.ms,
          exits: worker.exits,
          rpcs: worker.rpcs,
          documentsReadPerRequest: perEach(worker.documentsRead),
          readsPerRequest: per(worker.reads),
          writesPerRequest: per(worker.documentWrites),
          jobDocumentCommitsPerRequest: per(worker.jobDocumentCommits),
          jobDocumentWritesPerSecondMax5s: worker.jobDocumentWritesPerSecondMax5s,
        },
        // Admission, dispatch and the worker together, per request.
        total: {
          readsPerRequest: per(admitOps.reads + ops.reads + worker.reads),
          writesPerRequest: per(admitOps.writes + ops.writes + worker.documentWrites),
        },
      };
    } finally {
      await run.close();
      await emulator.stop();
      await Promise.race([firestore.terminate(), new Promise((r) => setTimeout(r, 1000))]);
    }
  });
}

// `--arms` chooses; every arm by default.
const npmStart = arms.has('npm-start')
  ? await throughNpmStart(batchMax, Number.POSITIVE_INFINITY)
  : undefined;
if (npmStart) say(`npm start, batches of up to ${batchMax}: ${JSON.stringify(npmStart)}`);
const npmStartUnbatched = arms.has('npm-start') ? await throughNpmStart(1, unbatchedMs) : undefined;
if (npmStartUnbatched)
  say(`npm start, one execution per request: ${JSON.stringify(npmStartUnbatched)}`);
const dispatchBatched = arms.has('dispatch')
  ? await dispatchArm(dispatchRequests, batchMax)
  : undefined;
if (dispatchBatched)
  say(`dispatch of ${dispatchRequests}, batches: ${JSON.stringify(dispatchBatched)}`);
const dispatchUnbatched = arms.has('dispatch') ? await dispatchArm(dispatchRequests, 1) : undefined;
if (dispatchUnbatched)
  say(`dispatch of ${dispatchRequests}, one per execution: ${JSON.stringify(dispatchUnbatched)}`);
// `--two-bridge-requests 0` leaves the second arm out.
const twoBridges: BurstReport | undefined =
  arms.has('two-bridge') && twoBridgeRequests > 0
    ? await withGoogleEmulators(async (hosts) => {
        // What Cloud Run starts after a crash: the image's bundle, not the TypeScript sources.
        const app = bundleApp('bench-burst-app-');
        try {
          return await runBurst({
            requests: twoBridgeRequests,
            bridges: 2,
            duplicateRate: 0.3,
            invalidRate: 0.05,
            runJobPerMinute: quota,
            killEveryMs: [8000, 15_000],
            // Instances crash independently and Cloud Run restarts each at once; see
            // docs/benchmarks.md for why the emulator cannot be given two down together.
            maxDownAtOnce: 1,
            cli: app.cli,
            maxDeliveryAttempts: 20,
            pubsubHost: hosts.pubsub,
            firestoreHost: hosts.firestore,
            seed: 5,
            settleTimeoutMs: Math.max(300_000, (twoBridgeRequests / quota) * 60_000 * 4),
            progress: say,
          });
        } finally {
          app.remove();
        }
      })
    : undefined;
const { problems = [], stories = [], ...twoBridgeFigures } = twoBridges ?? {};
if (twoBridges) say(`two bridges: ${JSON.stringify(twoBridgeFigures)}`);
for (const p of problems.slice(0, 20)) say(`problem: ${p}`);
for (const s of stories.slice(0, 20)) say(`request not succeeded: ${s}`);
const broken =
  (npmStart !== undefined &&
    (npmStart.succeeded !== requests ||
      npmStart.failed !== 0 ||
      npmStart.deadLettered !== 0 ||
      npmStart.bounced !== 0 ||
      npmStart.notExactlyOne !== 0 ||
      npmStart.maxRunJobInAnyMinute > quota)) ||
  (npmStartUnbatched !== undefined &&
    (npmStartUnbatched.notExactlyOne !== 0 ||
      (npmStartUnbatched.measuredMs === undefined && npmStartUnbatched.succeeded !== requests))) ||
  [dispatchBatched, dispatchUnbatched].some(
    (d) => d !== undefined && (d.started !== dispatchRequests || d.succeeded !== dispatchRequests),
  ) ||
  problems.length > 0 ||
  (twoBridges !== undefined &&
    (twoBridges.requestsLost !== 0 ||
      twoBridges.requestsFailed !== 0 ||
      twoBridges.requestsDeadLettered !== 0));
process.stdout.write(
  `${JSON.stringify({
    ...(npmStart && npmStartUnbatched
      ? {
          npmStart,
          npmStartUnbatched,
          npmStartWallUnbatchedOverBatched:
            Math.round((npmStartUnbatched.wallMs / Math.max(1, npmStart.wallMs)) * 10) / 10,
          npmStartExecutionsUnbatchedOverBatched:
            Math.round((npmStartUnbatched.executions / Math.max(1, npmStart.executions)) * 10) / 10,
        }
      : {}),
    ...(dispatchBatched && dispatchUnbatched
      ? {
          dispatchBatched,
          dispatchUnbatched,
          dispatchRequestsPerRunJobBatchedOverUnbatched:
            Math.round(
              (dispatchBatched.requestsPerRunJob / dispatchUnbatched.requestsPerRunJob) * 10,
            ) / 10,
        }
      : {}),
    ...(twoBridges
      ? { twoBridges: { ...twoBridgeFigures, problems: problems.length, stories: stories.length } }
      : {}),
  })}\n`,
);
if (broken) process.exitCode = 1;
