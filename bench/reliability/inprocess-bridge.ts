import { randomUUID } from 'node:crypto';
import { Firestore } from '@google-cloud/firestore';
import type { BridgeConfig } from '../../src/config/index.ts';
import type { PushVerifier } from '../../src/bridge/push-auth.ts';
import { BRIDGE_EXECUTION_ENV } from '../../src/contract/index.ts';
import { buildInProcessBridge, type InProcessBridgeBase } from '../lib/inprocess-bridge.ts';
import { executionEnv } from '../../src/launcher/index.ts';

/** The allowlisted and deployed job. */
export const ALLOWED_JOB = 'bridge-job';
/** Deployed on the Cloud Run Jobs emulator but NOT on the bridge's allowlist. */
export const UNLISTED_JOB = 'unlisted-job';

/**
 * The security and fuzz suites' bridge (bench/lib/inprocess-bridge.ts): ALLOWED_JOB allowlisted,
 * UNLISTED_JOB deployed but not, the bridge's 8 s budget and a 256 KiB body limit.
 */
export interface InProcessBridge extends Omit<InProcessBridgeBase, 'executions'> {
  /** Request id (JOBBRIDGE_REQUEST_ID) of every execution of `job`, via the ExecutionsClient. */
  executionRequestIds(job?: string): Promise<string[]>;
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
  const { executions, ...bridge } = await buildInProcessBridge({
    projectId,
    firestore: new Firestore({ projectId, preferRest: false }),
    jobs: {
      [ALLOWED_JOB]: { command: ['/bin/true'] },
      [UNLISTED_JOB]: { command: ['/bin/true'] },
    },
    config: {
      jobs: new Set([ALLOWED_JOB]),
      pushAuth: options.pushAuth ?? { mode: 'insecure' },
      budgetMs: 8_000,
      bodyLimitBytes: 256 * 1024,
      ...options.config,
    },
    deps: options.verifier ? { verifier: options.verifier } : {},
  });
  return {
    ...bridge,
    async executionRequestIds(job = ALLOWED_JOB) {
      return (await executions(job)).map(
        (e) => executionEnv(e)[BRIDGE_EXECUTION_ENV.requestId] ?? '(none)',
      );
    },
  };
}
