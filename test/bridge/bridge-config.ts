import type { BridgeConfig } from '../../src/bridge/config.ts';

/** The job the test bridges allow, and the region their launcher uses. */
export const JOB = 'bridge-job';
export const REGION = 'asia-northeast1';
/** Allowlisted, but no such job exists on the emulator: RunJob answers NOT_FOUND. */
export const GHOST_JOB = 'ghost-job';

/**
 * A valid bridge config for tests, insecure push and generous limits unless `overrides` say
 * otherwise. No vitest import: bench scripts use it through test/reliability/inprocess-bridge.ts.
 */
export function bridgeConfig(
  projectId: string,
  overrides: Partial<BridgeConfig> = {},
): BridgeConfig {
  return {
    projectId,
    region: REGION,
    jobs: new Set([JOB, GHOST_JOB]),
    collection: 'jobs',
    port: 0,
    host: '127.0.0.1',
    pushAuth: { mode: 'insecure' },
    leaseMs: 60_000,
    budgetMs: 5_000,
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
    logLevel: 'info',
    cloudRunEmulatorHost: undefined,
    testFault: undefined,
    ...overrides,
  };
}
