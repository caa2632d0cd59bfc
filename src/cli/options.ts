import { InvalidArgumentError } from 'commander';

/** Commander parser for an integer ≥ `min`. */
export function integerAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
      throw new InvalidArgumentError('must be an integer');
    if (n < min) throw new InvalidArgumentError(`must be at least ${min}`);
    return n;
  };
}

/** Commander parser for a finite number > 0 (or ≥ 0 with `allowZero`). */
export function positiveNumber(allowZero = false): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError('must be a number');
    if (allowZero ? n < 0 : n <= 0)
      throw new InvalidArgumentError(allowZero ? 'must be 0 or more' : 'must be more than 0');
    return n;
  };
}

/** Commander collector for repeatable `K=V` options into a record. */
export function keyValue(
  value: string,
  previous: Record<string, string> = {},
): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`"${value}" is not KEY=VALUE`);
  const key = value.slice(0, eq);
  if (Object.hasOwn(previous, key)) throw new InvalidArgumentError(`${key} is given twice`);
  return { ...previous, [key]: value.slice(eq + 1) };
}

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses a duration such as `90s`, `15m`, `12h`, `30d` or `2w` into milliseconds. */
export function parseDurationMs(value: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(value.trim());
  const unit = match?.[2];
  if (!match || unit === undefined)
    throw new InvalidArgumentError('must be a duration such as 90s, 15m, 12h, 30d or 2w');
  const ms = Number(match[1]) * (UNIT_MS[unit] ?? 0);
  if (ms <= 0) throw new InvalidArgumentError('must be more than 0');
  return ms;
}
