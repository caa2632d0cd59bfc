import { describe, expect, it } from 'vitest';
import { emulatorHosts } from '../harness/google.ts';
import { maxInWindow, runBurst } from '../../bench/reliability/burst-run.ts';

/** CI sizes; `npm run bench:burst` runs 300 through `npm start` and 300 on two killed bridges. */
describe('bursts are queued, never bounced', () => {
  it('30 requests at once past a 60-a-minute quota, 4 of them invalid: all succeed once, none dead-lettered', async () => {
    const hosts = emulatorHosts();
    const report = await runBurst({
      requests: 30,
      bridges: 1,
      duplicateRate: 0,
      invalidRate: 4 / 30,
      runJobPerMinute: 60,
      maxDeliveryAttempts: 5,
      pubsubHost: hosts.pubsub,
      firestoreHost: hosts.firestore,
      seed: 7,
      settleTimeoutMs: 90_000,
    });
    console.log(`burst (CI size): ${JSON.stringify(report)}`);
    expect(report.problems).toEqual([]);
    expect(report.executions).toBe(report.distinctValid);
    expect(report.terminalStates).toEqual({ succeeded: 26, rejected: 4 });
    expect(report.deadLettered).toBe(0);
    expect(report.maxRunJobInAnyMinute).toBeLessThanOrEqual(60);
    // Each invalid message was rejected on its first delivery: one rejection each, no retries.
    const rejections = Object.entries(report.bridgeOutcomes)
      .filter(([k]) => k.startsWith('rejected:'))
      .reduce((n, [, v]) => n + v, 0);
    expect(rejections).toBe(4);
    // The burst really was past the budget: most requests waited in the queue.
    expect(report.bridgeOutcomes.queued ?? 0).toBeGreaterThan(0);
    expect(report.bridgeOutcomes['rate-limited']).toBeUndefined();
  }, 150_000);

  it('two bridges, each with its own subscription, duplicates, both SIGKILLed at random: one execution each, none lost', async () => {
    const hosts = emulatorHosts();
    const report = await runBurst({
      requests: 40,
      bridges: 2,
      duplicateRate: 0.3,
      invalidRate: 0.1,
      runJobPerMinute: 120,
      // A bridge takes seconds to start on a loaded machine: each is down a good part of the run.
      killEveryMs: [8000, 14_000],
      // Each crashes on its own and is restarted at once (see docs/benchmarks.md, bursts).
      maxDownAtOnce: 1,
      maxDeliveryAttempts: 20,
      pubsubHost: hosts.pubsub,
      firestoreHost: hosts.firestore,
      seed: 11,
      settleTimeoutMs: 120_000,
    });
    console.log(`two bridges (CI size): ${JSON.stringify(report)}`);
    expect(report.problems).toEqual([]);
    expect(report.executions).toBe(report.distinctValid);
    expect(report.terminalStates).toEqual({
      succeeded: report.distinctValid,
      rejected: report.invalid,
    });
    // Requests, not messages: a copy one subscription gave up on is admitted by the other bridge
    // or by the dead-letter route, and is no lost or dead-lettered request.
    expect(report.requestsLost).toBe(0);
    expect(report.requestsFailed).toBe(0);
    expect(report.requestsDeadLettered).toBe(0);
    expect(report.stories).toEqual([]);
    expect(report.longestAllDownMs).toBe(0);
    expect(report.bridgeRestarts).toBeGreaterThanOrEqual(2);
    expect(report.maxRunJobInAnyMinute).toBeLessThanOrEqual(120);
  }, 200_000);

  it('counts the most events in any window', () => {
    expect(maxInWindow([0, 10, 59_999, 60_000, 60_001, 200_000], 60_000)).toBe(4);
    expect(maxInWindow([0, 60_000, 120_000], 60_000)).toBe(1);
    expect(maxInWindow([], 60_000)).toBe(0);
  });
});
