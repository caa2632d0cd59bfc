import { describe, expect, it } from 'vitest';
import { emulatorHosts } from '../harness/google.ts';
import { runBurst } from '../../bench/reliability/burst-run.ts';

/**
 * CI size of the batch must-show (`npm run bench:burst` runs 200 through `npm start` at 20 RunJob
 * calls a minute): a burst far past the run quota, started in batches, each request exactly once.
 */
describe('batches lift the run quota k-fold', () => {
  it('30 simulate requests past a 6-a-minute quota, batches of up to 15: all succeed, one slice each, in at most a third of the executions', async () => {
    const hosts = emulatorHosts();
    const report = await runBurst({
      requests: 30,
      bridges: 1,
      duplicateRate: 0,
      invalidRate: 0,
      runJobPerMinute: 6,
      batchMaxRequests: 15,
      maxDeliveryAttempts: 5,
      pubsubHost: hosts.pubsub,
      firestoreHost: hosts.firestore,
      seed: 5,
      settleTimeoutMs: 90_000,
    });
    console.log(`batch burst (CI size): ${JSON.stringify(report)}`);
    // One slice per request (own execution or batch member), every one succeeded, none lost.
    expect(report.problems).toEqual([]);
    expect(report.terminalStates).toEqual({ succeeded: 30 });
    expect(report.deadLettered).toBe(0);
    // Without batches 30 requests take 30 RunJob calls: 5 minutes of this quota. With them, a
    // third of that at most, though the Pub/Sub emulator's push trickles the burst in over tens
    // of seconds on a loaded machine and each RunJob token starts what has arrived by then.
    expect(report.executions).toBeLessThanOrEqual(10);
    expect(report.batchExecutions).toBeGreaterThanOrEqual(1);
    expect(report.maxRunJobInAnyMinute).toBeLessThanOrEqual(6);
  }, 150_000);
});
