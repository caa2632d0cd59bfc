import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/cli/duration.ts';

describe('durations as people write them', () => {
  it.each([
    ['90m', 90 * 60_000],
    ['1h30m', 90 * 60_000],
    ['1 h 30 min', 90 * 60_000],
    ['90 minutes', 90 * 60_000],
    ['2h', 7_200_000],
    ['1.5h', 5_400_000],
    ['30d', 30 * 86_400_000],
    ['2w', 14 * 86_400_000],
    ['45s', 45_000],
    ['250ms', 250],
    [' 1H ', 3_600_000],
  ])('reads %j', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '90', 'h', '1 parsec', '1h and 5m', '-5m', '1h30'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it.each([
    [3_600_000, '1 h'],
    [90 * 60_000, '1 h 30 min'],
    [30 * 86_400_000, '30 d'],
    [27 * 3_600_000, '1 d 3 h'],
    [45_000, '45 s'],
    [125_000, '2 min 5 s'],
    [250, '250 ms'],
    [0, '0 ms'],
    [3_599_999, '1 h'],
  ])('says %d ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('says what it reads', () => {
    for (const text of ['1 h', '1 h 30 min', '2 d 3 h', '45 s'])
      expect(formatDuration(parseDuration(text) ?? -1)).toBe(text);
  });
});
