/**
 * The retry policy of a delivery: the one place that says how often and how long we retry.
 * Pure and deterministic, so the workflow, the activities and the API share it.
 */
import type { RetryPolicy } from '@temporalio/common';

/** Per-subscription retry settings, all durations in milliseconds. */
export interface DeliveryRetryPolicy {
  /** Wait before the second attempt. @default 10000 (10 s) */
  readonly initialIntervalMs: number;
  /** Each wait is the previous one times this. 1 means a fixed interval. @default 2 */
  readonly backoffCoefficient: number;
  /** Upper bound of one wait. @default 3600000 (1 h) */
  readonly maximumIntervalMs: number;
  /** Attempts in all, the first included; null means no limit but maxDuration. @default null */
  readonly maximumAttempts: number | null;
  /** No attempt starts later than this after the first one. At most 48 h. @default 172800000 (48 h) */
  readonly maxDurationMs: number;
}

/** Nothing is retried past 48 hours from the first attempt. */
export const MAX_DELIVERY_WINDOW_MS = 48 * 3_600_000;

export const DEFAULT_RETRY_POLICY: DeliveryRetryPolicy = Object.freeze({
  initialIntervalMs: 10_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 3_600_000,
  maximumAttempts: null,
  maxDurationMs: MAX_DELIVERY_WINDOW_MS,
});

/** Bounds the API enforces on each field. */
export const RETRY_POLICY_LIMITS = Object.freeze({
  minIntervalMs: 1_000,
  maxIntervalMs: 24 * 3_600_000,
  minBackoffCoefficient: 1,
  maxBackoffCoefficient: 10,
  maxAttempts: 10_000,
  minDurationMs: 1_000,
});

/**
 * Most attempts a policy may plan in its window. A 1 s fixed interval for 48 h would make
 * ~170,000 attempts (rows, and load on a receiver that is down); 2,000 allows an attempt a
 * minute for a day, or every second for half an hour.
 */
export const MAX_PLANNED_ATTEMPTS = 2_000;

/**
 * Failure types an attempt throws that end the delivery at once: the receiver refused the
 * request (most 4xx), the target is not allowed, or the subscription is gone.
 */
/**
 * The failure type of an attempt that found its subscription paused: it posted nothing and used
 * no attempt; the delivery waits until the subscription is resumed. Never retried by Temporal:
 * the workflow decides when to try again.
 */
export const SUBSCRIPTION_PAUSED = 'SubscriptionPaused';
/**
 * The failure type of an attempt that found its subscription throttled and its turn still to come:
 * it posted nothing and used no attempt, and reserved the slot it waits for (its details say when).
 * Never retried by Temporal: the workflow waits for the slot durably, holding no worker.
 */
export const SUBSCRIPTION_THROTTLED = 'SubscriptionThrottled';

export const FINAL_FAILURE_TYPES = Object.freeze({
  receiverRejected: 'ReceiverRejected',
  targetRefused: 'TargetRefused',
  subscriptionGone: 'SubscriptionGone',
});

export function withDefaults(policy: Partial<DeliveryRetryPolicy> | undefined): DeliveryRetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...policy };
}

/**
 * The Temporal RetryPolicy of the postWebhook activity for a subscription's settings, when
 * `attemptsBefore` attempts of the same run were made before the activity's first: its first
 * wait and its attempt count carry on from theirs.
 */
export function toTemporalRetryPolicy(policy: DeliveryRetryPolicy, attemptsBefore = 0): RetryPolicy {
  return {
    initialInterval: backoffAfterAttempt(policy, attemptsBefore + 1),
    backoffCoefficient: policy.backoffCoefficient,
    maximumInterval: policy.maximumIntervalMs,
    ...(policy.maximumAttempts !== null
      ? { maximumAttempts: Math.max(1, policy.maximumAttempts - attemptsBefore) }
      : {}),
    nonRetryableErrorTypes: [...Object.values(FINAL_FAILURE_TYPES), SUBSCRIPTION_PAUSED, SUBSCRIPTION_THROTTLED],
  };
}

/** The wait Temporal applies after a failed attempt (1-based), before Retry-After overrides it. */
export function backoffAfterAttempt(policy: DeliveryRetryPolicy, attempt: number): number {
  const wait = policy.initialIntervalMs * policy.backoffCoefficient ** Math.max(0, attempt - 1);
  return Math.min(wait, policy.maximumIntervalMs);
}

/**
 * When the next attempt will start, or null when there will be none (attempts used up, or it
 * would start after the window closes).
 */
export function nextAttemptAt(args: {
  policy: DeliveryRetryPolicy;
  attempt: number;
  now: number;
  windowEndsAt: number;
  retryAfterMs?: number | undefined;
}): number | null {
  const { policy, attempt, now, windowEndsAt, retryAfterMs } = args;
  if (policy.maximumAttempts !== null && attempt >= policy.maximumAttempts) return null;
  // Whole milliseconds: a fractional coefficient (1.5) would otherwise show in the UI as 1796011481502.75.
  const at = Math.round(now + (retryAfterMs ?? backoffAfterAttempt(policy, attempt)));
  return at < windowEndsAt ? at : null;
}

/**
 * How many attempts the policy makes in its window when every attempt fails and no Retry-After
 * stretches the waits; counting stops at `limit + 1`.
 */
export function plannedAttempts(policy: DeliveryRetryPolicy, limit = MAX_PLANNED_ATTEMPTS): number {
  let attempts = 1;
  let at: number | null = 0;
  while (attempts <= limit) {
    at = nextAttemptAt({ policy, attempt: attempts, now: at, windowEndsAt: policy.maxDurationMs });
    if (at === null) break;
    attempts += 1;
  }
  return attempts;
}
