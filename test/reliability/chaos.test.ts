import { describe, expect, it } from 'vitest';
import { emulatorHosts } from '../harness/google.ts';
import { runChaos } from '../../bench/reliability/chaos-run.ts';

/** CI size of the chaos suite; `npm run chaos` runs 1,000 requests (bench/chaos.ts). */
const REQUESTS = Number(process.env.CHAOS_CI_REQUESTS ?? 100);
/** The Cloud Run Jobs emulator's run quota in the CI run (RunJob calls a minute). */
const QUOTA = 90;

describe("chaos: Pub/Sub push to a bridge SIGKILLed every few seconds, RunJob faults, workers killed, Cloud Run's run quota on", () => {
  it(`${REQUESTS} requests (30 % duplicates, 10 % invalid): one slice per valid request, every job terminal`, async () => {
    const hosts = emulatorHosts();
    const report = await runChaos({
      requests: REQUESTS,
      faults: true,
      pubsubHost: hosts.pubsub,
      firestoreHost: hosts.firestore,
      publishPerSecond: 5,
      restartEveryMs: [2500, 4500],
      seed: 42,
      settleTimeoutMs: 180_000,
      // Below the valid requests' arrival (about 3 a second): the quota is met, not just set.
      quota: { runJobPerMinute: QUOTA, maxRunningExecutions: 1000 },
    });
    console.log(`chaos (CI size): ${JSON.stringify(report)}`);
    expect(report.problems).toEqual([]);
    expect(report.quotaPerMinute).toBe(QUOTA);
    expect(report.maxRunJobInAnyMinute).toBeLessThanOrEqual(QUOTA);
    // Batches are on (the bridge's default): a queued request may run as a member's slice of a
    // batch's execution. The problems above include any valid request without exactly one slice.
    expect(report.executions).toBeLessThanOrEqual(report.distinctValid);
    expect(report.terminalStates).toEqual({
      succeeded: report.distinctValid,
      rejected: report.invalid,
    });
    // The chaos really happened: the bridge died, RunJob failed, workers were killed.
    expect(report.bridgeRestarts).toBeGreaterThanOrEqual(3);
    expect(report.runJobFaultsInjected).toBeGreaterThan(0);
    expect(report.workersKilled).toBeGreaterThan(0);
  }, 300_000);
});
