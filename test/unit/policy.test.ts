import {
  DEFAULT_RETRY_POLICY,
  FINAL_FAILURE_TYPES,
  MAX_DELIVERY_WINDOW_MS,
  MAX_PLANNED_ATTEMPTS,
  SUBSCRIPTION_PAUSED,
  SUBSCRIPTION_THROTTLED,
  backoffAfterAttempt,
  nextAttemptAt,
  plannedAttempts,
  toTemporalRetryPolicy,
  withDefaults,
  type DeliveryRetryPolicy,
} from '../../core/retry-policy';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Updox: "every 5 minutes, 15 times". */
const EVERY_5_MINUTES_15_TIMES: DeliveryRetryPolicy = withDefaults({
  initialIntervalMs: 5 * MINUTE,
  backoffCoefficient: 1,
  maximumAttempts: 15,
});

describe('defaults', () => {
  test('exponential from 10 s, capped at 1 h, no attempt limit, 48 h window', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({
      initialIntervalMs: 10_000,
      backoffCoefficient: 2,
      maximumIntervalMs: HOUR,
      maximumAttempts: null,
      maxDurationMs: 48 * HOUR,
    });
    expect(MAX_DELIVERY_WINDOW_MS).toBe(48 * HOUR);
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY)).toBe(true);
  });

  test('withDefaults fills what is missing and keeps what is given', () => {
    expect(withDefaults(undefined)).toEqual(DEFAULT_RETRY_POLICY);
    expect(withDefaults({})).toEqual(DEFAULT_RETRY_POLICY);
    expect(withDefaults({ maximumAttempts: 3, initialIntervalMs: 1_000 })).toEqual({
      ...DEFAULT_RETRY_POLICY,
      maximumAttempts: 3,
      initialIntervalMs: 1_000,
    });
  });
});

describe('toTemporalRetryPolicy', () => {
  test('maps every field and lists the final failure types as non-retryable', () => {
    const policy = withDefaults({
      initialIntervalMs: 2_000,
      backoffCoefficient: 3,
      maximumIntervalMs: 60_000,
      maximumAttempts: 7,
    });
    expect(toTemporalRetryPolicy(policy)).toEqual({
      initialInterval: 2_000,
      backoffCoefficient: 3,
      maximumInterval: 60_000,
      maximumAttempts: 7,
      // Final failures, and the paused or throttled subscription's (the workflow decides when to try again).
      nonRetryableErrorTypes: [
        'ReceiverRejected',
        'TargetRefused',
        'SubscriptionGone',
        'SubscriptionPaused',
        'SubscriptionThrottled',
      ],
    });
  });

  test('a null maximumAttempts is omitted, not passed as 0 or null', () => {
    const temporal = toTemporalRetryPolicy(DEFAULT_RETRY_POLICY);
    expect(temporal).not.toHaveProperty('maximumAttempts');
    expect(temporal.nonRetryableErrorTypes).toEqual([
      ...Object.values(FINAL_FAILURE_TYPES),
      SUBSCRIPTION_PAUSED,
      SUBSCRIPTION_THROTTLED,
    ]);
  });

  test('after attempts made before the activity, its waits and attempt count carry on from theirs', () => {
    const policy = withDefaults({
      initialIntervalMs: 2_000,
      backoffCoefficient: 3,
      maximumIntervalMs: 10_000,
      maximumAttempts: 7,
    });
    // The attempt made before waited 2 s; the activity's first retry waits what attempt 2 would.
    expect(toTemporalRetryPolicy(policy, 1)).toMatchObject({
      initialInterval: 6_000,
      maximumInterval: 10_000,
      maximumAttempts: 6,
    });
    expect(toTemporalRetryPolicy(policy, 2)).toMatchObject({ initialInterval: 10_000, maximumAttempts: 5 });
    expect(toTemporalRetryPolicy(DEFAULT_RETRY_POLICY, 1)).not.toHaveProperty('maximumAttempts');
  });

  test('"every 5 minutes, 15 times" is expressible', () => {
    expect(toTemporalRetryPolicy(EVERY_5_MINUTES_15_TIMES)).toMatchObject({
      initialInterval: 5 * MINUTE,
      backoffCoefficient: 1,
      maximumAttempts: 15,
    });
  });
});

describe('plannedAttempts', () => {
  test('the default policy plans about 56 attempts in 48 h', () => {
    expect(plannedAttempts(DEFAULT_RETRY_POLICY)).toBeGreaterThan(50);
    expect(plannedAttempts(DEFAULT_RETRY_POLICY)).toBeLessThan(60);
  });

  test('maximumAttempts caps the count; a fixed 1 s interval for 48 h stops counting past the limit', () => {
    expect(plannedAttempts(withDefaults({ maximumAttempts: 3, initialIntervalMs: 1_000 }))).toBe(3);
    const everySecond = withDefaults({ initialIntervalMs: 1_000, backoffCoefficient: 1, maximumIntervalMs: 1_000 });
    expect(plannedAttempts(everySecond)).toBe(MAX_PLANNED_ATTEMPTS + 1);
    expect(plannedAttempts({ ...everySecond, maxDurationMs: 30 * 60_000 })).toBeLessThanOrEqual(MAX_PLANNED_ATTEMPTS);
  });
});

describe('backoffAfterAttempt', () => {
  test('grows by the coefficient from the initial interval', () => {
    expect([1, 2, 3, 4].map((attempt) => backoffAfterAttempt(DEFAULT_RETRY_POLICY, attempt))).toEqual([
      10_000, 20_000, 40_000, 80_000,
    ]);
  });

  test('is capped at maximumInterval', () => {
    expect(backoffAfterAttempt(DEFAULT_RETRY_POLICY, 10)).toBe(HOUR);
    expect(backoffAfterAttempt(DEFAULT_RETRY_POLICY, 1_000)).toBe(HOUR);
  });

  test('a coefficient of 1 gives a fixed interval', () => {
    expect([1, 5, 14].map((attempt) => backoffAfterAttempt(EVERY_5_MINUTES_15_TIMES, attempt))).toEqual([
      5 * MINUTE,
      5 * MINUTE,
      5 * MINUTE,
    ]);
  });

  test('attempt 0 or below counts as the first', () => {
    expect(backoffAfterAttempt(DEFAULT_RETRY_POLICY, 0)).toBe(10_000);
  });
});

describe('nextAttemptAt', () => {
  const now = 1_700_000_000_000;
  const windowEndsAt = now + 48 * HOUR;

  test('now plus the backoff while the window is open', () => {
    expect(nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 1, now, windowEndsAt })).toBe(now + 10_000);
    expect(nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 3, now, windowEndsAt })).toBe(now + 40_000);
  });

  test('Retry-After replaces the backoff', () => {
    expect(nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 1, now, windowEndsAt, retryAfterMs: 120_000 })).toBe(
      now + 120_000,
    );
    expect(nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 1, now, windowEndsAt, retryAfterMs: 0 })).toBe(now);
  });

  test('null when the next attempt would start at or after the window end', () => {
    expect(nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 1, now, windowEndsAt: now + 10_000 })).toBeNull();
    expect(nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 1, now, windowEndsAt: now + 10_001 })).toBe(
      now + 10_000,
    );
    expect(
      nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 1, now, windowEndsAt, retryAfterMs: 49 * HOUR }),
    ).toBeNull();
  });

  test('null once maximumAttempts are used up', () => {
    const policy = withDefaults({ maximumAttempts: 3 });
    expect(nextAttemptAt({ policy, attempt: 2, now, windowEndsAt })).toBe(now + 20_000);
    expect(nextAttemptAt({ policy, attempt: 3, now, windowEndsAt })).toBeNull();
    expect(nextAttemptAt({ policy, attempt: 4, now, windowEndsAt })).toBeNull();
  });

  test('no attempt limit when maximumAttempts is null', () => {
    expect(nextAttemptAt({ policy: DEFAULT_RETRY_POLICY, attempt: 500, now, windowEndsAt })).toBe(now + HOUR);
  });

  test('"every 5 minutes, 15 times": 14 waits of 5 minutes, then none', () => {
    const policy = EVERY_5_MINUTES_15_TIMES;
    let at = now;
    const starts = [at];
    for (let attempt = 1; ; attempt += 1) {
      const next = nextAttemptAt({ policy, attempt, now: at, windowEndsAt });
      if (next === null) break;
      starts.push(next);
      at = next;
    }
    expect(starts).toHaveLength(15);
    expect(starts[14]).toBe(now + 14 * 5 * MINUTE);
  });
});
