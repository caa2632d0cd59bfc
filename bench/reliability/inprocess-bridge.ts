import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import type { BridgeConfig } from '../../src/config/index.ts';
import type { PushVerifier } from '../../src/bridge/push-auth.ts';
import { buildBridgeServer, type BridgeServer } from '../../src/bridge/server.ts';
import { BRIDGE_EXECUTION_ENV } from '../../src/contract/index.ts';
import { startRunEmulator, type StartedRunEmulator } from '../../src/emulator/index.ts';
import { CloudRunLauncher, createRunClients, type RunClients } from '../../src/launcher/index.ts';
import { createLogger } from '../../src/log.ts';
import { bridgeConfig, REGION } from '../lib/bridge-config.ts';

/** The allowlisted and deployed job. */
export const ALLOWED_JOB = 'bridge-job';
/** Deployed on the Cloud Run Jobs emulator but NOT on the bridge's allowlist. */
export const UNLISTED_JOB = 'unlisted-job';

/**
 * An in-process bridge (buildBridgeServer) on the real Firestore emulator and a Cloud Run Jobs
 * emulator of its own, without vitest, so that bench scripts can use it too.
 */
export interface InProcessBridge {
  projectId: string;
  firestore: Firestore;
  emulator: StartedRunEmulator;
  run: RunClients;
  app: BridgeServer;
  /** Every log line the bridge wrote, raw. */
  logLines: string[];
  /** Request id (JOBBRIDGE_REQUEST_ID) of every execution of `job`, via the ExecutionsClient. */
  executionRequestIds(job?: string): Promise<string[]>;
  close(): Promise<void>;
}

export async function startInProcessBridge(options: {
  firestoreHost: string;
  verifier?: PushVerifier;
  pushAuth?: BridgeConfig['pushAuth'];
  /** Settings over the test config (policies, body limit, …). */
  config?: Partial<BridgeConfig>;
}): Promise<InProcessBridge> {
  process.env.FIRESTORE_EMULATOR_HOST = options.firestoreHost;
  const projectId = `rel-${randomUUID().slice(0, 8)}`;
  const firestore = new Firestore({ projectId, preferRest: false });
  const emulator = await startRunEmulator({
    jobs: {
      jobs: {
        [ALLOWED_JOB]: { command: ['/bin/true'] },
        [UNLISTED_JOB]: { command: ['/bin/true'] },
      },
    },
    log: () => undefined,
  });
  const run = createRunClients({ emulatorHost: emulator.host, projectId });
  const launcher = new CloudRunLauncher(run, { project: projectId, region: REGION });
  const logLines: string[] = [];
  const logger = createLogger({
    destination: { write: (line: string) => void logLines.push(line) },
  });
  const config = bridgeConfig(projectId, {
    jobs: new Set([ALLOWED_JOB]),
    pushAuth: options.pushAuth ?? { mode: 'insecure' },
    budgetMs: 8_000,
    bodyLimitBytes: 256 * 1024,
    cloudRunEmulatorHost: emulator.host,
    ...options.config,
  });
  const app = buildBridgeServer({
    config,
    firestore,
    launcher,
    logger,
    ...(options.verifier ? { verifier: options.verifier } : {}),
  });
  await app.ready();
  return {
    projectId,
    firestore,
    emulator,
    run,
    app,
    logLines,
    async executionRequestIds(job = ALLOWED_JOB) {
      const [list] = await run.executions.listExecutions({
        parent: `projects/${projectId}/locations/${REGION}/jobs/${job}`,
      });
      return list.map(
        (e) =>
          e.template?.containers?.[0]?.env?.find((v) => v.name === BRIDGE_EXECUTION_ENV.requestId)
            ?.value ?? '(none)',
      );
    },
    async close() {
      await app.close();
      await run.close();
      await emulator.stop();
      await Promise.race([firestore.terminate(), new Promise((r) => setTimeout(r, 1000))]);
    },
  };
}
