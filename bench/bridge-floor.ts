/**
 * The I/O floor of `bench:bridge`, in its own process like the bridge: the same Firestore create
 * (the claim document), the same RunJob call and the same preconditioned update (the dispatch
 * record) that one fresh delivery costs, issued directly with the clients built the way `serve`
 * builds them; no HTTP, no parsing, no verification, no logging. Reads one JSON command a line
 * on stdin (`{"count", "concurrency"}`) and answers each with one JSON line of figures.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Firestore } from '@google-cloud/firestore';
import { launchRequest } from '../src/dispatch/launch-request.ts';
import { CloudRunLauncher, createRunClients } from '../src/launcher/index.ts';
import { claimDocument } from '../src/store/job-claim-document.ts';
import { drive } from './drive.ts';

const projectId = process.env.GOOGLE_CLOUD_PROJECT ?? 'bench';
const job = process.env.BENCH_JOB ?? 'bench-job';
const firestore = new Firestore({ projectId });
const run = createRunClients({
  projectId,
  ...(process.env.CLOUD_RUN_EMULATOR_HOST
    ? { emulatorHost: process.env.CLOUD_RUN_EMULATOR_HOST }
    : {}),
});
const launcher = new CloudRunLauncher(run, {
  project: projectId,
  region: process.env.JOBBRIDGE_REGION ?? 'asia-northeast1',
});
const maxRetries = (await launcher.getJob(job)).maxRetries;
const DAY_MS = 24 * 3600 * 1000;

async function floorOp(): Promise<void> {
  const requestId = randomUUID();
  const request = { schemaVersion: 1 as const, job, requestId, args: ['x'] };
  const now = new Date();
  const ref = firestore.collection('floor').doc(requestId);
  const { writeTime } = await ref.create(
    claimDocument({
      docId: requestId,
      requestId,
      request,
      source: { messageId: randomUUID(), subscription: 'projects/bench/subscriptions/push' },
      owner: randomUUID(),
      now,
      leaseMs: 60_000,
      retentionMs: 30 * DAY_MS,
    }),
  );
  const launched = await launcher.launch(
    launchRequest(request, { requestId, docId: requestId, maxRetries }),
  );
  const done = new Date();
  await ref.update(
    {
      state: 'dispatched',
      'dispatch.leaseOwner': null,
      'dispatch.leaseExpiresAt': null,
      'dispatch.operationName': launched.operationName,
      'dispatch.executionName': launched.executionName,
      'dispatch.adopted': false,
      dispatchedAt: done,
      updatedAt: done,
    },
    { lastUpdateTime: writeTime },
  );
}

process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { count: number; concurrency: number };
  const cpu = process.cpuUsage();
  const figures = await drive(command.count, command.concurrency, floorOp);
  const used = process.cpuUsage(cpu);
  const cpuMsPerOp = Math.round(((used.user + used.system) / 1000 / command.count) * 100) / 100;
  process.stdout.write(`${JSON.stringify({ ...figures, cpuMsPerOp })}\n`);
}
await Promise.allSettled([run.close(), firestore.terminate()]);
process.exit(0);
