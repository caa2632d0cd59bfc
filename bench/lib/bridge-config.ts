import type { BridgeConfig } from '../../src/config/index.ts';
import { VARIABLES } from '../../src/config/variables.ts';
import { DEFAULT_JOB_POLICY, type JobPolicies } from '../../src/contract/index.ts';

/** The job the test bridges allow, and the region their launcher uses. */
export const JOB = 'bridge-job';
export const REGION = 'asia-northeast1';
/** Allowlisted, but no such job exists on the emulator: RunJob answers NOT_FOUND. */
export const GHOST_JOB = 'ghost-job';

/**
 * A policy that lets requests for JOB use raw args and any env name (the denylist floor still
 * holds): the protocol tests exercise dedup and dispatch, the security suite the policy itself.
 */
export const OPEN_POLICIES: JobPolicies = new Map([
  [JOB, { ...DEFAULT_JOB_POLICY, rawArgs: true, env: ['*'] }],
]);

/**
 * A valid bridge config for tests, OPEN_POLICIES, insecure push and generous limits unless `overrides` say
 * otherwise. No vitest import: bench scripts use it through bench/lib/inprocess-bridge.ts.
 */
export function bridgeConfig(
  projectId: string,
  overrides: Partial<BridgeConfig> = {},
): BridgeConfig {
  return {
    projectId,
    region: REGION,
    jobs: new Set([JOB, GHOST_JOB]),
    policies: OPEN_POLICIES,
    collection: 'jobs',
    port: 0,
    host: '127.0.0.1',
    pushAuth: { mode: 'insecure' },
    subscriptions: { push: undefined, deadLetter: undefined },
    leaseMs: 60_000,
    budgetMs: 8_000,
    retentionDays: 30,
    bodyLimitBytes: 1024 * 1024,
    shutdownGraceMs: 5_000,
    // Generous, so that only the backpressure tests meet the limits.
    limits: {
      runJobPerMinute: 100_000,
      runJobBurst: 10_000,
      maxConcurrentLaunches: 1000,
      keyConcurrency: 0,
    },
    // The bridge's default (JOBBRIDGE_BATCH_MAX_REQUESTS): queued function requests start in
    // batches, so a suite counts a request's slices (bench/lib/slices.ts), not its executions.
    batchMaxRequests: VARIABLES.batchMaxRequests.schema.parse(undefined),
    logLevel: 'info',
    cloudRunEmulatorHost: undefined,
    firestoreEmulatorHost: undefined,
    ...overrides,
  };
}
