import { formatDuration, parseDuration } from '../../core/duration';

describe('parseDuration', () => {
  test.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['48h', 172_800_000],
    ['0s', 0],
    [' 10s ', 10_000],
    [1500, 1500],
    [0, 0],
  ])('%p → %p ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test.each(['', '10', '1.5s', '-5s', '5 m', '5M', '5min', 'h', '1w', '1234567890s', 'PT5M'])(
    '%p is not a duration',
    (input) => {
      expect(parseDuration(input)).toBeUndefined();
    },
  );

  test.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])('the number %p is not a duration', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  test.each([
    [300_000, '5m'],
    [172_800_000, '48h'],
    [86_400_000, '24h'],
    [10_000, '10s'],
    [90_000, '90s'],
    [3_600_000, '1h'],
    [5_400_000, '90m'],
    [1_500, '1500ms'],
    [0, '0ms'],
  ])('%p ms → %p', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test.each([1, 999, 1_000, 61_000, 7_200_000])('round-trips %p ms', (ms) => {
    expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
