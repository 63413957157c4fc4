import { DEFAULT_AUTO_DISABLE, disableReason } from '../../core/subscription-health';

const at = Date.parse('2026-11-30T12:00:00.000Z');
const failingFor = (ms: number | null) => ({
  subscriptionId: 'sub_1',
  consecutiveFailures: 3,
  failingSince: ms === null ? null : new Date(at - ms),
});

test('a 410 Gone disables at once, unless WEBHOOKS_DISABLE_ON_GONE is off', () => {
  expect(disableReason(failingFor(0), 410, at, DEFAULT_AUTO_DISABLE)).toBe('the receiver answered 410 Gone');
  expect(disableReason(failingFor(0), 410, at, { ...DEFAULT_AUTO_DISABLE, disableOnGone: false })).toBeUndefined();
  expect(disableReason(failingFor(0), 404, at, DEFAULT_AUTO_DISABLE)).toBeUndefined();
});

test('failing for WEBHOOKS_DISABLE_AFTER disables, not a moment before; off never does', () => {
  const fiveDays = 5 * 86_400_000;
  expect(disableReason(failingFor(fiveDays - 1), 503, at, DEFAULT_AUTO_DISABLE)).toBeUndefined();
  expect(disableReason(failingFor(fiveDays), null, at, DEFAULT_AUTO_DISABLE)).toBe(
    'no attempt succeeded for 120h (failing since 2026-11-25T12:00:00.000Z)',
  );
  expect(
    disableReason(failingFor(fiveDays * 10), 503, at, { ...DEFAULT_AUTO_DISABLE, disableAfterMs: null }),
  ).toBeUndefined();
  expect(disableReason(failingFor(null), 503, at, DEFAULT_AUTO_DISABLE)).toBeUndefined();
});
