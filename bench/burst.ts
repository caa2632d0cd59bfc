/**
 * `npm run bench:burst`: the bursts of DESIGN.md's "Admission and dispatch", at full size.
 *
 * 1. Through `npm start` (`jobbridge dev`, its Cloud Run Jobs emulator at Cloud Run's default run
 *    quota unless `--quota Q`): `--requests N` (300) `simulate` requests and `--invalid K` (10)
 *    invalid messages published at once. Counts every job's end state, executions per request,
 *    dead letters, the bridge's answers by status and outcome (a non-2xx is a bounce), the most
 *    RunJob calls in any 60 s, and the drain and wall times next to the floor (N ÷ the quota)
 *    measured in the same run.
 * 2. Two `jobbridge serve` instances, each with its own push subscription on one topic (every
 *    message reaches both), a 30 % share of duplicates, both SIGKILLed and restarted at random
 *    (`--two-bridge-requests`, 300; 0 leaves this arm out).
 *
 * Prints progress on stderr and, as its last line, one JSON object with the figures. Exit code 1
 * if any promise was broken.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { BRIDGE_EXECUTION_ENV } from '../src/contract/index.ts';
import { READY_LINE } from '../src/devstack/next-steps.ts';
import { CLOUD_RUN_DEFAULT_QUOTAS } from '../src/emulator/index.ts';
import { createRunClients } from '../src/launcher/index.ts';
import { publishJob } from '../src/producer/index.ts';
import { countMessages, maxInWindow, runBurst, type BurstReport } from './reliability/burst-run.ts';
import { numberArg, withGoogleEmulators } from './reliability/google.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const requests = numberArg('requests', 'BURST_REQUESTS', 300);
const invalid = numberArg('invalid', 'BURST_INVALID', 10);
const quota = numberArg('quota', 'BURST_QUOTA', CLOUD_RUN_DEFAULT_QUOTAS.runJobPerMinute);
const twoBridgeRequests = numberArg('two-bridge-requests', 'BURST_TWO_BRIDGE_REQUESTS', 300);
const say = (line: string) => process.stderr.write(`[burst] ${line}\n`);

interface NpmStartReport {
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
}

/** `[bridge] warn push delivery … outcome=budget-exceeded status=503 …`: one answered push. */
const PUSH_ANSWER = /^\[bridge\] \w+ push delivery .*\boutcome=(\S+) status=(\d{3})\b/;

function startDev(projectId: string): {
  child: ChildProcess;
  ready: Promise<{ env: Record<string, string>; run: string }>;
  exited: Promise<void>;
  pushAnswers: Record<string, number>;
} {
  // Info: the bridge logs every push delivery with its status, which is how bounces are counted.
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info' };
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
  if (child.stdout)
    createInterface({ input: child.stdout }).on('line', (line) => {
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

async function throughNpmStart(): Promise<NpmStartReport> {
  const projectId = `burst-${randomUUID().slice(0, 8)}`;
  const dev = startDev(projectId);
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
        if (Date.now() - started > Math.max(600_000, (requests / quota) * 60_000 * 4))
          throw new Error(`not settled: ${JSON.stringify(states)}`);
        if (Date.now() - lastSay > 15_000) {
          say(`${JSON.stringify(states)} after ${Math.round((Date.now() - started) / 1000)} s`);
          lastSay = Date.now();
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      const wallMs = finishedMax - started;
      const [executions] = await run.executions.listExecutions({
        parent: `projects/${projectId}/locations/local/jobs/simulate`,
      });
      const perRequest = new Map<string, number>();
      for (const e of executions) {
        const id = e.template?.containers?.[0]?.env?.find(
          (v) => v.name === BRIDGE_EXECUTION_ENV.requestId,
        )?.value;
        if (id !== undefined && id !== null) perRequest.set(id, (perRequest.get(id) ?? 0) + 1);
      }
      const exactlyOne = ids.filter((id) => perRequest.get(id) === 1).length;
      const createTimes = executions.map(
        (e) =>
          Number(e.createTime?.seconds ?? 0) * 1000 + Math.floor((e.createTime?.nanos ?? 0) / 1e6),
      );
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
        requests,
        invalid,
        quotaPerMinute: quota,
        states,
        succeeded: states.succeeded ?? 0,
        failed: states.failed ?? 0,
        rejected: states.rejected ?? 0,
        deadLettered,
        exactlyOneExecution: exactlyOne,
        notExactlyOne: ids.length - exactlyOne,
        maxRunJobInAnyMinute: maxInWindow(createTimes, 60_000),
        pushAnswers: { ...dev.pushAnswers },
        bounced,
        drainMs,
        startedPerMinute: Math.round((executions.length / (drainMs / 60_000)) * 10) / 10,
        wallMs,
        floorMs,
        drainOverFloor: Math.round((drainMs / floorMs) * 100) / 100,
        wallOverFloor: Math.round((wallMs / floorMs) * 100) / 100,
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

const npmStart = await throughNpmStart();
say(`npm start: ${JSON.stringify(npmStart)}`);
// `--two-bridge-requests 0` leaves the second arm out.
const twoBridges: BurstReport | undefined =
  twoBridgeRequests > 0
    ? await withGoogleEmulators((hosts) =>
        runBurst({
          requests: twoBridgeRequests,
          bridges: 2,
          duplicateRate: 0.3,
          invalidRate: 0.05,
          runJobPerMinute: quota,
          killEveryMs: [8000, 15_000],
          maxDeliveryAttempts: 20,
          pubsubHost: hosts.pubsub,
          firestoreHost: hosts.firestore,
          seed: 5,
          settleTimeoutMs: Math.max(300_000, (twoBridgeRequests / quota) * 60_000 * 4),
          progress: say,
        }),
      )
    : undefined;
const { problems = [], ...twoBridgeFigures } = twoBridges ?? {};
if (twoBridges) say(`two bridges: ${JSON.stringify(twoBridgeFigures)}`);
for (const p of problems.slice(0, 20)) say(`problem: ${p}`);
const broken =
  npmStart.succeeded !== requests ||
  npmStart.failed !== 0 ||
  npmStart.deadLettered !== 0 ||
  npmStart.bounced !== 0 ||
  npmStart.notExactlyOne !== 0 ||
  npmStart.maxRunJobInAnyMinute > quota ||
  problems.length > 0 ||
  (twoBridges !== undefined && twoBridges.deadLettered !== 0);
process.stdout.write(
  `${JSON.stringify({
    npmStart,
    ...(twoBridges ? { twoBridges: { ...twoBridgeFigures, problems: problems.length } } : {}),
  })}\n`,
);
if (broken) process.exitCode = 1;
