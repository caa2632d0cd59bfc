import { InvalidArgumentError } from 'commander';
import { DURATION_HINT, parseDuration } from './duration.ts';

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

/** Commander parser for a duration (`90m`, `1h30m`, `1 h 30 min`, `30d`) into milliseconds. */
export function parseDurationMs(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError(`must be ${DURATION_HINT}`);
  if (ms <= 0) throw new InvalidArgumentError('must be more than 0');
  return ms;
}
