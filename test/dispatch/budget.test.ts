import { describe, expect, it } from 'vitest';
import { exhaustedReason, RunBudget, type Ticket } from '../../src/dispatch/budget.ts';

/** A budget on a clock the test moves by hand. */
function budgetAt(settings: Partial<ConstructorParameters<typeof RunBudget>[0]> = {}) {
  let now = 0;
  const budget = new RunBudget({
    runJobPerMinute: 60,
    runJobBurst: 2,
    maxConcurrentLaunches: 10,
    backoffInitialMs: 1000,
    backoffMaxMs: 8000,
    nowMs: () => now,
    ...settings,
  });
  return { budget, advance: (ms: number) => void (now += ms) };
}

function ticket(budget: RunBudget): Ticket {
  const got = budget.tryTake();
  if (!got.ok) throw new Error(`no ticket: ${got.reason}`);
  return got;
}

describe('RunBudget: one instance paces RunJob and backs off on RESOURCE_EXHAUSTED', () => {
  it('hands out the burst, then one call per 60000/rate ms', () => {
    const { budget, advance } = budgetAt();
    ticket(budget).launched();
    ticket(budget).launched();
    const refused = budget.tryTake();
    expect(refused).toMatchObject({ ok: false, reason: 'runjob-rate' });
    expect(refused.ok ? 0 : refused.retryAfterMs).toBe(1000);
    advance(999);
    expect(budget.tryTake().ok).toBe(false);
    advance(1);
    ticket(budget).launched();
    expect(budget.gauge()).toMatchObject({ launched: 3, inFlight: 0 });
  });

  it('gives an unused ticket back, and caps calls in flight', () => {
    const { budget } = budgetAt({ runJobBurst: 5, maxConcurrentLaunches: 2 });
    const a = ticket(budget);
    const b = ticket(budget);
    expect(budget.tryTake()).toMatchObject({ ok: false, reason: 'runjob-rate' });
    a.unused();
    b.failed();
    expect(budget.gauge()).toMatchObject({ inFlight: 0, maxInFlight: 2 });
    // a's token came back, b's was spent: 5 - 2 + 1 = 4 left.
    expect(budget.gauge().tokens).toBe(4);
    // Settling twice changes nothing.
    a.unused();
    expect(budget.gauge().tokens).toBe(4);
  });

  it('pauses on RESOURCE_EXHAUSTED with a doubling backoff, probes once, halves its pace', () => {
    const { budget, advance } = budgetAt({ runJobBurst: 4 });
    const first = ticket(budget);
    const second = ticket(budget);
    first.exhausted('runjob-rate');
    // A call of the same burst refused too: no second escalation.
    second.exhausted('runjob-rate');
    expect(budget.gauge()).toMatchObject({
      pausedForMs: 1000,
      pauseReason: 'runjob-rate',
      pacePerMinute: 30,
    });
    expect(budget.tryTake()).toMatchObject({
      ok: false,
      reason: 'runjob-rate',
      retryAfterMs: 1000,
    });
    expect(budget.wouldAdmit()).toBe('runjob-rate');
    advance(1000);
    const probe = ticket(budget);
    expect(budget.tryTake().ok).toBe(false);
    probe.exhausted('runjob-rate');
    expect(budget.gauge()).toMatchObject({ pausedForMs: 2000, pacePerMinute: 15 });
    advance(2000);
    const ok = ticket(budget);
    ok.launched();
    // Each accepted call wins back a tenth of the configured pace.
    expect(budget.gauge()).toMatchObject({ pausedForMs: 0, pauseReason: null, pacePerMinute: 21 });
    expect(budget.wouldAdmit()).toBe('runjob-rate'); // the probe used the only token
  });

  it('names the running-executions limit as the reason, without slowing the pace', () => {
    const { budget } = budgetAt();
    ticket(budget).exhausted('running-limit');
    expect(budget.gauge()).toMatchObject({ pauseReason: 'running-limit', pacePerMinute: 60 });
    expect(budget.tryTake()).toMatchObject({ ok: false, reason: 'running-limit' });
  });

  it("tells Cloud Run's two RESOURCE_EXHAUSTED answers apart by their quota metric", () => {
    expect(
      exhaustedReason(
        new Error(
          "8 RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Job run requests' and limit 'Job run requests per minute per region' of service 'run.googleapis.com'",
        ),
      ),
    ).toBe('runjob-rate');
    expect(
      exhaustedReason(
        new Error(
          "8 RESOURCE_EXHAUSTED: Quota exceeded for quota metric 'Running executions' and limit 'Maximum number of running job executions per project and region'",
        ),
      ),
    ).toBe('running-limit');
  });

  it('refuses settings below 1, naming the setting', () => {
    expect(
      () => new RunBudget({ runJobPerMinute: 0, runJobBurst: 1, maxConcurrentLaunches: 1 }),
    ).toThrow(/runJobPerMinute must be at least 1/);
  });
});
