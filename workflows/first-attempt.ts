/**
 * A delivery's first attempt, made as a local activity by the worker that holds the workflow task
 * (no trip through a task queue), and what its failure means for the attempts after it. The
 * delivery workflow makes its own first attempt this way; a subscriber workflow makes first
 * attempts for many deliveries and hands each one that failed, with its outcome, to a delivery
 * workflow (see FirstAttemptOutcome).
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  proxyLocalActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { Activities, NotSentDetails, PostWebhookInput, RetryDetails } from '../activities';
import {
  FINAL_FAILURE_TYPES,
  nextAttemptAt,
  SUBSCRIPTION_PAUSED,
  SUBSCRIPTION_THROTTLED,
  type DeliveryRetryPolicy,
} from '../core/retry-policy';

/** Room for the activity to record its attempt after the request's own deadline. */
export const ATTEMPT_BOOKKEEPING_MS = 10_000;

/** What a failed first attempt left to do, carried to the delivery workflow that takes it over. */
export type FirstAttemptOutcome =
  /**
   * Retryable: the next attempt is due then (ms since the epoch), or null when none is left. No
   * reason when the attempt was cut by its deadline with no word of why.
   */
  | { readonly kind: 'retry'; readonly reason?: string | undefined; readonly nextAttemptAt: number | null }
  /** Final: the receiver, the target rules or the subscription's removal ended it (FINAL_FAILURE_TYPES). */
  | { readonly kind: 'final'; readonly reason: string; readonly failureType: string }
  /** The subscription is paused: nothing was posted; the delivery waits to be resumed, then tries again. */
  | { readonly kind: 'paused' }
  /** The subscription is throttled: nothing was posted; the delivery's turn (its reserved slot) begins at `sendAt`. */
  | { readonly kind: 'throttled'; readonly sendAt: number };

export interface FirstAttemptSettings {
  readonly retryPolicy: DeliveryRetryPolicy;
  /** Deadline of one attempt, ms. */
  readonly attemptTimeoutMs: number;
}

/** The local activity making a first attempt: one try, bounded by the attempt's deadline and the window. */
export function firstAttemptActivity(settings: FirstAttemptSettings, remainingMs: number): Activities['postWebhook'] {
  return proxyLocalActivities<Activities>({
    scheduleToCloseTimeout: remainingMs,
    startToCloseTimeout: settings.attemptTimeoutMs + ATTEMPT_BOOKKEEPING_MS,
    // One attempt: the retries are the regular activity's, under the subscription's policy.
    retry: { maximumAttempts: 1 },
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    summary: 'POST webhook (first attempt)',
  }).postWebhook;
}

/** The attempt's input; `reservedSlotAt`: the throttle slot the delivery waited for, if it did. */
export function attemptInput(
  deliveryId: string,
  settings: FirstAttemptSettings,
  attemptsBefore: number,
  reservedSlotAt?: number,
): PostWebhookInput {
  return {
    deliveryId,
    retryPolicy: settings.retryPolicy,
    attemptTimeoutMs: settings.attemptTimeoutMs,
    attemptsBefore,
    ...(reservedSlotAt !== undefined ? { reservedSlotAt } : {}),
  };
}

/**
 * What a first attempt's failure leaves to do. Retryable failures carry when the attempt after it
 * is due, as the attempt decided (Retry-After or the policy's first backoff, within the window).
 * Throws back anything that is not an attempt's failure (a cancellation, a bug).
 */
export function firstAttemptOutcome(
  error: unknown,
  retryPolicy: DeliveryRetryPolicy,
  windowEndsAt: number,
): FirstAttemptOutcome {
  // A local activity's failure may come wrapped or bare.
  const failure = error instanceof ActivityFailure ? error.cause : error;
  if (failure instanceof ApplicationFailure) {
    const notSent = notSentBy(failure);
    if (notSent !== undefined) {
      return notSent.kind === 'paused' ? { kind: 'paused' } : { kind: 'throttled', sendAt: notSent.sendAt };
    }
    if (failure.nonRetryable) return { kind: 'final', reason: failure.message, failureType: failure.type ?? '' };
    const details = failure.details?.[0] as RetryDetails | undefined;
    if (details && 'nextAttemptAt' in details) {
      return { kind: 'retry', reason: failure.message, nextAttemptAt: details.nextAttemptAt };
    }
  } else if (!(failure instanceof TimeoutFailure)) {
    throw error;
  }
  const cause = failure instanceof TimeoutFailure ? failure.cause : failure;
  return {
    kind: 'retry',
    reason: cause instanceof Error ? cause.message : undefined,
    nextAttemptAt: nextAttemptAt({ policy: retryPolicy, attempt: 1, now: Date.now(), windowEndsAt }),
  };
}

/** Why an attempt of the regular activity posted nothing, and what it carries (see NotSentDetails). */
export type NotSent =
  | { readonly kind: 'paused'; readonly attemptsMade: number }
  | { readonly kind: 'throttled'; readonly attemptsMade: number; readonly sendAt: number };

/**
 * For an attempt of the regular activity that posted nothing (paused or throttled): why, and the
 * attempts made before it (the next one counts on from there); undefined for any other failure.
 */
export function notSentOf(error: unknown): NotSent | undefined {
  const failure = error instanceof ActivityFailure ? error.cause : undefined;
  return failure instanceof ApplicationFailure ? notSentBy(failure) : undefined;
}

/** Why an attempt's failure says it posted nothing (paused or throttled); undefined for any other. */
function notSentBy(failure: ApplicationFailure): NotSent | undefined {
  const details = failure.details?.[0] as NotSentDetails | undefined;
  const attemptsMade = details?.attemptsMade ?? 0;
  if (failure.type === SUBSCRIPTION_PAUSED) return { kind: 'paused', attemptsMade };
  if (failure.type === SUBSCRIPTION_THROTTLED) {
    return { kind: 'throttled', attemptsMade, sendAt: details?.sendAt ?? Date.now() };
  }
  return undefined;
}

/** Whether the outcome ends the delivery as cancelled: its subscription was deleted or deactivated. */
export function endsAsCancelled(outcome: FirstAttemptOutcome): boolean {
  return outcome.kind === 'final' && outcome.failureType === FINAL_FAILURE_TYPES.subscriptionGone;
}
