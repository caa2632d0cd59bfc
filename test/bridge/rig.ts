import { randomUUID } from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import type { protos } from '@google-cloud/run';
import type { BridgeConfig } from '../../src/config/index.ts';
import type { RunBudget } from '../../src/dispatch/budget.ts';
import {
  createOidcVerifier,
  type OidcVerifierOptions,
  type PushVerifier,
} from '../../src/bridge/push-auth.ts';
import type { BridgeServerDeps } from '../../src/bridge/server.ts';
import type { FaultOptions } from '../../src/emulator/index.ts';
import { testFirestore, testProjectId } from '../harness/google.ts';
import { waitFor } from '../../bench/lib/poll.ts';
import { AUDIENCE, PUSH_SA } from '../../bench/lib/tokens.ts';
import { bridgeConfig, GHOST_JOB, JOB, REGION } from '../../bench/lib/bridge-config.ts';
import {
  buildInProcessBridge,
  envelope,
  type InProcessBridgeBase,
} from '../../bench/lib/inprocess-bridge.ts';

export { bridgeConfig, envelope, GHOST_JOB, JOB, REGION };

export const JOB_MAX_RETRIES = 2;

/** The OIDC verifier the tests' push tokens are made for (AUDIENCE, PUSH_SA), with `certsUrl`. */
export function testVerifier(
  certsUrl: string,
  extra: Pick<OidcVerifierOptions, 'client' | 'verified'> = {},
): PushVerifier {
  return createOidcVerifier({ audience: AUDIENCE, serviceAccount: PUSH_SA, certsUrl, ...extra });
}

type IExecution = protos.google.cloud.run.v2.IExecution;

/** A valid request for the rig's job with a fresh request id, with `extra` fields over it. */
export function jobRequest(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemaVersion: 1, requestId: `req-${randomUUID()}`, job: JOB, ...extra };
}

export interface RigOptions {
  leaseMs?: number;
  budgetMs?: number;
  verifier?: PushVerifier;
  faults?: FaultOptions;
  region?: string;
  shutdownGraceMs?: number;
  limits?: BridgeConfig['limits'];
  /** Handed to the bridge so the test can read its gauge. */
  budget?: RunBudget;
  /** Another Firestore client (e.g. one pointed at nothing). */
  firestore?: (projectId: string) => Firestore;
  /** What `POST /reconcile` treats as stale. */
  reconcile?: BridgeServerDeps['reconcile'];
}

/** The tests' in-process bridge (bench/lib/inprocess-bridge.ts), with JOB deployed. */
export interface Rig extends Omit<InProcessBridgeBase, 'executions'> {
  /** All executions of `job` on the emulator, via the real ExecutionsClient. */
  executions(job?: string): Promise<IExecution[]>;
}

export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const projectId = testProjectId('bridge');
  const firestore = options.firestore ? options.firestore(projectId) : testFirestore(projectId);
  const bridge = await buildInProcessBridge({
    projectId,
    firestore,
    jobs: { [JOB]: { command: ['/bin/true'], args: ['default'], maxRetries: JOB_MAX_RETRIES } },
    ...(options.faults ? { faults: options.faults } : {}),
    config: {
      region: options.region ?? REGION,
      ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
      // Wider than the bridge's 8 s default: a first delivery on a loaded 2-core machine (cold
      // gRPC channels, the job's maxRetries read) must not meet the budget unless a test asks.
      budgetMs: options.budgetMs ?? Math.min(20_000, (options.leaseMs ?? 60_000) / 2),
      ...(options.shutdownGraceMs !== undefined
        ? { shutdownGraceMs: options.shutdownGraceMs }
        : {}),
      ...(options.limits !== undefined ? { limits: options.limits } : {}),
    },
    deps: {
      ...(options.verifier ? { verifier: options.verifier } : {}),
      ...(options.budget ? { budget: options.budget } : {}),
      ...(options.reconcile ? { reconcile: options.reconcile } : {}),
    },
  });
  return {
    ...bridge,
    executions: (job = JOB) => bridge.executions(job),
  };
}

/** Polls `check` until it returns a value, or fails after `timeoutMs`. */
export function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  return waitFor(what, check, timeoutMs);
}
