/**
 * Durations the way people write them: `90m`, `1h30m`, `1 h 30 min`, `2h`, `30d`, `1.5h`, and
 * printed the same way (`1 h 30 min`). One home so every command reads and says them alike.
 */

const UNITS: readonly { names: readonly string[]; ms: number; short: string }[] = [
  { names: ['w', 'wk', 'week', 'weeks'], ms: 604_800_000, short: 'w' },
  { names: ['d', 'day', 'days'], ms: 86_400_000, short: 'd' },
  { names: ['h', 'hr', 'hrs', 'hour', 'hours'], ms: 3_600_000, short: 'h' },
  { names: ['m', 'min', 'mins', 'minute', 'minutes'], ms: 60_000, short: 'min' },
  { names: ['s', 'sec', 'secs', 'second', 'seconds'], ms: 1000, short: 's' },
  { names: ['ms', 'millisecond', 'milliseconds'], ms: 1, short: 'ms' },
];

const UNIT_MS = new Map(UNITS.flatMap((u) => u.names.map((n) => [n, u.ms] as const)));

/** Why a duration could not be read, with what would have been. */
export const DURATION_HINT = 'a duration such as 90m, 1h30m, "1 h 30 min", 12h, 30d or 2w';

/**
 * Milliseconds of `text`, a sum of number–unit parts (`1h30m`, `1 h 30 min`, `90 minutes`), or
 * undefined when it is not one.
 */
export function parseDuration(text: string): number | undefined {
  const compact = text.trim().toLowerCase();
  if (compact === '') return undefined;
  const part = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*/gy;
  let total = 0;
  let end = 0;
  for (let m = part.exec(compact); m !== null; m = part.exec(compact)) {
    const unit = UNIT_MS.get(m[2] ?? '');
    if (unit === undefined) return undefined;
    total += Number(m[1]) * unit;
    end = part.lastIndex;
  }
  return end === compact.length ? total : undefined;
}

/**
 * `ms` as people say it, largest units first, at most two of them: `1 h 30 min`, `1 h`,
 * `2 d 3 h`, `45 s`, `250 ms`. Rounded to the smaller unit shown.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return String(ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const units = UNITS.filter((u) => u.short !== 'ms' && u.short !== 'w');
  const firstIndex = units.findIndex((u) => ms >= u.ms);
  const first = units[firstIndex] ?? units[units.length - 1]!;
  const second = units[firstIndex + 1];
  if (!second) return `${Math.round(ms / first.ms)} ${first.short}`;
  const inSecond = Math.round(ms / second.ms);
  const bigger = units[firstIndex - 1];
  // 59 min 59.9 s rounds up into the next unit: say it in that one (1 h).
  if (bigger && inSecond * second.ms >= bigger.ms) return formatDuration(inSecond * second.ms);
  const perFirst = first.ms / second.ms;
  const whole = Math.floor(inSecond / perFirst);
  const rest = inSecond - whole * perFirst;
  return rest === 0 ? `${whole} ${first.short}` : `${whole} ${first.short} ${rest} ${second.short}`;
}
