import type { Firestore } from '@google-cloud/firestore';
import type { protos } from '@google-cloud/run';
import type { BridgeConfig } from '../../src/config/index.ts';
import {
  buildBridgeServer,
  type BridgeServer,
  type BridgeServerDeps,
} from '../../src/bridge/server.ts';
import {
  startRunEmulator,
  type FaultOptions,
  type JobFile,
  type StartedRunEmulator,
} from '../../src/emulator/index.ts';
import { CloudRunLauncher, createRunClients, type RunClients } from '../../src/launcher/index.ts';
import { createLogger } from '../../src/log.ts';
import { bridgeConfig } from './bridge-config.ts';

type IExecution = protos.google.cloud.run.v2.IExecution;

/** An envelope as Pub/Sub pushes it, around `data` (a job request object, or raw base64). */
export function envelope(
  data: unknown,
  options: { attributes?: Record<string, string>; messageId?: string; rawData?: string } = {},
): Record<string, unknown> {
  const messageId = options.messageId ?? String(Math.floor(Math.random() * 1e15));
  return {
    message: {
      data: options.rawData ?? Buffer.from(JSON.stringify(data)).toString('base64'),
      attributes: options.attributes ?? {},
      messageId,
      message_id: messageId,
      publishTime: new Date().toISOString(),
    },
    subscription: 'projects/p/subscriptions/bridge-push',
  };
}

/**
 * A bridge built in this process (buildBridgeServer, reached with `app.inject`) on a Firestore
 * client the caller made, and a Cloud Run Jobs emulator of its own. No vitest import: the tests'
 * rig (test/bridge/rig.ts) and the reliability suites' bridge (bench/reliability) are built on it.
 */
export interface InProcessBridgeBase {
  projectId: string;
  firestore: Firestore;
  emulator: StartedRunEmulator;
  run: RunClients;
  app: BridgeServer;
  config: BridgeConfig;
  /** Every log line the bridge wrote, raw. */
  logLines: string[];
  /**
   * `POST /pubsub/push` with `body` (JSON unless a string), as JSON unless `headers` say another
   * content type; the answer's status and JSON body.
   */
  push(
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: { outcome: string } & Record<string, unknown> }>;
  /** The job document `docId` as stored (in the config's collection), or undefined. */
  jobDoc(docId: string): Promise<Record<string, unknown> | undefined>;
  /** All executions of `job` on the emulator (in the config's region), via the ExecutionsClient. */
  executions: (job: string) => Promise<IExecution[]>;
  /** Stops the bridge, the run clients and the emulator, and lets go of the Firestore client. */
  close(): Promise<void>;
}

export interface InProcessBridgeOptions {
  projectId: string;
  /** Closed with the bridge. */
  firestore: Firestore;
  /** The jobs deployed on the Cloud Run Jobs emulator. */
  jobs: JobFile['jobs'];
  faults?: FaultOptions;
  /** Settings over bridgeConfig(projectId). */
  config?: Partial<BridgeConfig>;
  /** More of the server's dependencies: a push verifier, a budget to read, reconcile options. */
  deps?: Pick<BridgeServerDeps, 'verifier' | 'budget' | 'reconcile'>;
}

export async function buildInProcessBridge(
  options: InProcessBridgeOptions,
): Promise<InProcessBridgeBase> {
  const { projectId, firestore } = options;
  const emulator = await startRunEmulator({
    jobs: { jobs: options.jobs },
    log: () => undefined,
    ...(options.faults ? { faults: options.faults } : {}),
  });
  const run = createRunClients({ emulatorHost: emulator.host, projectId });
  const config = bridgeConfig(projectId, {
    cloudRunEmulatorHost: emulator.host,
    ...options.config,
  });
  const launcher = new CloudRunLauncher(run, { project: projectId, region: config.region });
  const logLines: string[] = [];
  const logger = createLogger({
    destination: { write: (line: string) => void logLines.push(line) },
  });
  const app = buildBridgeServer({ config, firestore, launcher, logger, ...options.deps });
  await app.ready();
  return {
    projectId,
    firestore,
    emulator,
    run,
    app,
    config,
    logLines,
    async push(body, headers = {}) {
      const res = await app.inject({
        method: 'POST',
        url: '/pubsub/push',
        headers: { 'content-type': 'application/json', ...headers },
        payload: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.statusCode, body: res.json() };
    },
    async jobDoc(docId) {
      return (await firestore.collection(config.collection).doc(docId).get()).data();
    },
    executions: async (job) => {
      const [list] = await run.executions.listExecutions({
        parent: `projects/${projectId}/locations/${config.region}/jobs/${job}`,
      });
      return list;
    },
    async close() {
      await app.close();
      await run.close();
      await emulator.stop();
      // A client whose server is gone keeps retrying its abandoned calls; do not wait on them.
      await Promise.race([firestore.terminate(), new Promise((r) => setTimeout(r, 1000))]);
    },
  };
}
