import { describe, expect, it } from 'vitest';
import { emulatorHosts } from '../harness/google.ts';
import { runFuzz } from '../../bench/reliability/fuzz-run.ts';

/** CI size of the fuzz suite; `npm run fuzz` sends 20,000 (bench/fuzz.ts). */
const PUSHES = Number(process.env.FUZZ_CI_PUSHES ?? 2000);

describe('fuzz: generated push bodies and headers against the in-process bridge', () => {
  it(`${PUSHES} pushes + ${PUSHES / 10} forged tokens: documented statuses only, no crash, no stray execution`, async () => {
    const report = await runFuzz({
      firestoreHost: emulatorHosts().firestore,
      pushes: PUSHES,
      authPushes: PUSHES / 10,
    });
    console.log(`fuzz (CI size): ${JSON.stringify(report)}`);
    expect(report.problems).toEqual([]);
    expect(report.unhandledRejections).toBe(0);
    // Executions start only for requests answered `dispatched` (or still at work when their budget
    // ran out), one each: the per-id check is in report.problems.
    expect(report.dispatched).toBeGreaterThan(0);
    expect(report.executions).toBeGreaterThanOrEqual(report.dispatched);
    // The generator reached the validator's many fields, not only the envelope.
    const rejectedFields = Object.keys(report.outcomes).filter((o) => o.startsWith('rejected:'));
    expect(rejectedFields.length).toBeGreaterThanOrEqual(8);
  }, 180_000);
});
