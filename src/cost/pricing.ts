/**
 * Cloud Run Jobs pricing arithmetic, as the seed article does it: every task-second is billed
 * for its vCPUs and its memory. Pure: no I/O, no clock.
 */

/** Tier-1 prices beyond the free tier, as quoted by the seed article (asia-northeast1). */
export const TIER1_PRICES = {
  vcpuSecondPrice: 0.0000216,
  gibSecondPrice: 0.0000024,
} as const;

/** Resources of one task and the prices to apply. */
export interface CostRates {
  vcpu: number;
  memoryGib: number;
  vcpuSecondPrice: number;
  gibSecondPrice: number;
}

/** A workload described as the seed describes it: runs a day, seconds a run, days, users. */
export interface CostScenario extends CostRates {
  seconds: number;
  runsPerDay: number;
  days: number;
  users: number;
}

/** Billed usage and its price; `total` = `vcpuCost` + `memoryCost`. */
export interface CostBreakdown {
  /** Task-seconds billed (runs × seconds, summed over users). */
  taskSeconds: number;
  vcpuSeconds: number;
  gibSeconds: number;
  vcpuCost: number;
  memoryCost: number;
  total: number;
}

/**
 * Rounds away binary floating-point noise (0.0000216 × 180000 is 3.8880000000000003) at a
 * billionth of a dollar, far below any amount Google bills.
 */
function money(amount: number): number {
  return Math.round(amount * 1e9) / 1e9;
}

/** The cost of `taskSeconds` task-seconds at the given size and prices. */
export function costOfTaskSeconds(taskSeconds: number, rates: CostRates): CostBreakdown {
  const vcpuSeconds = taskSeconds * rates.vcpu;
  const gibSeconds = taskSeconds * rates.memoryGib;
  const vcpuCost = money(vcpuSeconds * rates.vcpuSecondPrice);
  const memoryCost = money(gibSeconds * rates.gibSecondPrice);
  return {
    taskSeconds,
    vcpuSeconds,
    gibSeconds,
    vcpuCost,
    memoryCost,
    total: money(vcpuCost + memoryCost),
  };
}

/**
 * The seed article's arithmetic: price × runs/day × days × size × seconds, per resource.
 * 2 vCPU, 4 GiB, 60 s, 50 runs a day, 30 days → $3.888 + $0.864 = $4.752 per user.
 */
export function scenarioCost(scenario: CostScenario): CostBreakdown {
  const taskSeconds = scenario.seconds * scenario.runsPerDay * scenario.days * scenario.users;
  return costOfTaskSeconds(taskSeconds, scenario);
}

/** Formats dollars with at least two and at most six decimals: $4.752, $0.10, $0.000216. */
export function formatDollars(amount: number): string {
  const fixed = amount.toFixed(6).replace(/0+$/, '');
  const [whole = '0', fraction = ''] = fixed.split('.');
  return `$${whole}.${fraction.padEnd(2, '0')}`;
}
