import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import type { protos } from '@google-cloud/run';
import {
  loadJobFile,
  startRunEmulator,
  type FaultOptions,
  type QuotaOptions,
  type StartedRunEmulator,
} from '../../src/emulator/index.ts';
import { createRunClients, type RunClients } from '../../src/launcher/index.ts';
import { CHAOS_JOB } from './chaos-plan.ts';

const JOBS_FILE = fileURLToPath(new URL('../../examples/jobs.json', import.meta.url));
export const CHAOS_REGION = 'local';

/**
 * What the chaos and burst runs stand on: a project of their own on the shared Pub/Sub and
 * Firestore emulators, and a Cloud Run Jobs emulator running examples/jobs.json (its tasks are
 * `jobbridge work` processes writing to that project), with the run quota and faults asked for.
 */
export interface ChaosStack {
  projectId: string;
  firestore: Firestore;
  pubsub: PubSub;
  emulator: StartedRunEmulator;
  run: RunClients;
  /** `projects/P/locations/local/jobs/simulate`: where the run's executions are listed. */
  parent: string;
  /** The environment of a `jobbridge serve` child on `port`, with `extra` over it. */
  bridgeEnv(port: number, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  executions(): Promise<protos.google.cloud.run.v2.IExecution[]>;
  /** Deletes `subscriptions` (the shared emulator would push to dead ports) and stops the rest. */
  close(subscriptions: readonly string[]): Promise<void>;
}

export async function startChaosStack(options: {
  prefix: string;
  pubsubHost: string;
  firestoreHost: string;
  quotas: Required<QuotaOptions>;
  faults?: FaultOptions;
  /** The Cloud Run Jobs emulator's own lines and its tasks' output. */
  log?: (line: string) => void;
  /** The CLI entry point the tasks run (`node <cli> work …`): the job file's unless given. */
  cli?: string;
}): Promise<ChaosStack> {
  process.env.PUBSUB_EMULATOR_HOST = options.pubsubHost;
  process.env.FIRESTORE_EMULATOR_HOST = options.firestoreHost;
  const projectId = `${options.prefix}-${randomUUID().slice(0, 8)}`;
  const firestore = new Firestore({ projectId, preferRest: false });
  const pubsub = new PubSub({ projectId });
  const { jobs: file, baseDir } = await loadJobFile(JOBS_FILE);
  const cli = options.cli;
  const jobs =
    cli === undefined
      ? file
      : {
          jobs: Object.fromEntries(
            Object.entries(file.jobs).map(([name, spec]) => [
              name,
              { ...spec, command: [process.execPath, cli] },
            ]),
          ),
        };
  // Every task and bridge is a node process: a shared compile cache shortens each start.
  const compileCache = join(tmpdir(), 'jobbridge-chaos-compile-cache');
  mkdirSync(compileCache, { recursive: true });
  const emulator = await startRunEmulator({
    jobs,
    baseDir,
    killGraceMs: 2000,
    quotas: options.quotas,
    ...(options.faults ? { faults: options.faults } : {}),
    taskEnv: {
      GOOGLE_CLOUD_PROJECT: projectId,
      FIRESTORE_EMULATOR_HOST: options.firestoreHost,
      JOBBRIDGE_COLLECTION: 'jobs',
      LOG_LEVEL: 'warn',
      NODE_COMPILE_CACHE: compileCache,
    },
    log: options.log ?? (() => undefined),
  });
  const run = createRunClients({ emulatorHost: emulator.host, projectId });
  const parent = `projects/${projectId}/locations/${CHAOS_REGION}/jobs/${CHAOS_JOB}`;
  return {
    projectId,
    firestore,
    pubsub,
    emulator,
    run,
    parent,
    bridgeEnv: (port, extra) => ({
      PATH: process.env.PATH,
      GOOGLE_CLOUD_PROJECT: projectId,
      JOBBRIDGE_REGION: CHAOS_REGION,
      JOBBRIDGE_JOBS: CHAOS_JOB,
      JOBBRIDGE_INSECURE_PUSH: 'true',
      JOBBRIDGE_LISTEN_HOST: '127.0.0.1',
      PORT: String(port),
      // Paced to the emulator's quota, as an operator sets it to Cloud Run's.
      JOBBRIDGE_RUNJOB_PER_MINUTE: String(options.quotas.runJobPerMinute),
      FIRESTORE_EMULATOR_HOST: options.firestoreHost,
      CLOUD_RUN_EMULATOR_HOST: emulator.host,
      NODE_COMPILE_CACHE: compileCache,
      ...extra,
    }),
    executions: async () => (await run.executions.listExecutions({ parent }))[0],
    async close(subscriptions) {
      for (const name of subscriptions)
        await pubsub
          .subscription(name)
          .delete()
          .catch(() => undefined);
      await pubsub.close();
      await run.close();
      await emulator.stop();
      await Promise.race([firestore.terminate(), new Promise((r) => setTimeout(r, 1000))]);
    },
  };
}

/**
 * What Cloud Scheduler calls on a bridge: one reconcile pass that drains the queue for
 * `drainForMs`. A bridge being killed just misses it (the next call reaches it or another).
 */
export async function callReconcile(url: string, drainForMs = 1500): Promise<void> {
  await fetch(`${url}/reconcile`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ drainForMs }),
    signal: AbortSignal.timeout(10_000),
  })
    .then((res) => res.body?.cancel())
    .catch(() => undefined);
}
