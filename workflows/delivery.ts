import { RetryState } from '@temporalio/common';
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DeliveryStatus } from '../src/domain/model';
import { DELIVERY_STATUS } from '../src/temporal/search-attributes';
import { cancelSignal, resendSignal, statusQuery, type DeliveryState, type DeliveryWorkflowInput } from './messages';
import { FINAL_FAILURE_TYPES, toTemporalRetryPolicy } from './policy';

/** Room for the activity to record its attempt after the request's own deadline. */
const ATTEMPT_BOOKKEEPING_MS = 10_000;
/** Since this patch, a delivered attempt records the delivery's success itself (see postWebhook). */
const SUCCESS_RECORDED_BY_ATTEMPT = 'success-recorded-by-attempt';
/** A cancel reaches an attempt in flight within about 80% of this (the SDK's heartbeat throttle). */
const ATTEMPT_HEARTBEAT_TIMEOUT_MS = 3_000;

const { recordOutcome } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

function attemptActivity(input: DeliveryWorkflowInput, remainingMs: number): Activities['postWebhook'] {
  return proxyActivities<Activities>({
    // No attempt starts after the window closes: Temporal's own deadline for all retries.
    scheduleToCloseTimeout: remainingMs,
    startToCloseTimeout: input.attemptTimeoutMs + ATTEMPT_BOOKKEEPING_MS,
    heartbeatTimeout: ATTEMPT_HEARTBEAT_TIMEOUT_MS,
    retry: toTemporalRetryPolicy(input.retryPolicy),
    // Wait for an aborted attempt to stop before a resend starts the next, so two never overlap.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    summary: 'POST webhook',
  }).postWebhook;
}

/** What ended the attempts: the receiver's refusal, the subscription's removal, or time. */
function finalStatus(error: unknown): { status: DeliveryStatus; reason: string } {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure && cause.type === FINAL_FAILURE_TYPES.subscriptionGone) {
    return { status: 'cancelled', reason: cause.message };
  }
  if (cause instanceof TimeoutFailure) {
    const last = cause.cause instanceof Error ? `; last attempt: ${cause.cause.message}` : '';
    return { status: 'failed', reason: `no attempt left in the retry window${last}` };
  }
  // The next backoff would end past the window: Temporal gives up at once, with the last attempt's failure.
  if (error instanceof ActivityFailure && error.retryState === RetryState.TIMEOUT) {
    const last = cause instanceof Error ? `; last attempt: ${cause.message}` : '';
    return { status: 'failed', reason: `no attempt left in the retry window${last}` };
  }
  return { status: 'failed', reason: cause instanceof Error ? cause.message : String(cause) };
}

/**
 * One delivery of one event to one subscription. Runs the postWebhook activity under the
 * subscription's retry policy until the receiver answers 2xx, refuses for good, or the window
 * closes. `cancel` (or a Temporal cancellation) stops it; `resend` skips the remaining backoff.
 */
export async function deliveryWorkflow(input: DeliveryWorkflowInput): Promise<DeliveryState> {
  const windowStartedAt = Date.now();
  const windowEndsAt = windowStartedAt + input.retryPolicy.maxDurationMs;
  const state: DeliveryState = {
    deliveryId: input.deliveryId,
    eventId: input.eventId,
    subscriptionId: input.subscriptionId,
    status: 'pending',
    windowStartedAt: new Date(windowStartedAt).toISOString(),
    windowEndsAt: new Date(windowEndsAt).toISOString(),
    resends: 0,
    reason: null,
  };
  let attempts: CancellationScope | undefined;
  let cancelRequested = false;
  let resendRequested = false;

  setHandler(statusQuery, () => state);
  setHandler(cancelSignal, () => {
    cancelRequested = true;
    attempts?.cancel();
  });
  setHandler(resendSignal, () => {
    if (state.status !== 'pending') return;
    resendRequested = true;
    state.resends += 1;
    attempts?.cancel();
  });

  while (state.status === 'pending') {
    resendRequested = false;
    if (cancelRequested) {
      Object.assign(state, { status: 'cancelled', reason: 'cancelled by an operator' });
      break;
    }
    const remainingMs = windowEndsAt - Date.now();
    if (remainingMs <= 0) {
      Object.assign(state, { status: 'failed', reason: 'no attempt left in the retry window' });
      break;
    }
    const postWebhook = attemptActivity(input, remainingMs);
    attempts = new CancellationScope();
    try {
      await attempts.run(() =>
        postWebhook({ deliveryId: input.deliveryId, retryPolicy: input.retryPolicy, attemptTimeoutMs: input.attemptTimeoutMs }),
      );
      state.status = 'succeeded';
    } catch (error) {
      // Anything else is a bug here, not the receiver's doing: fail the workflow task so that a
      // fixed worker resumes the delivery, instead of recording a false outcome.
      if (!(error instanceof ActivityFailure) && !isCancellation(error)) throw error;
      if (cancelRequested || (isCancellation(error) && !resendRequested)) {
        Object.assign(state, { status: 'cancelled', reason: 'cancelled by an operator' });
      } else if (!resendRequested) {
        Object.assign(state, finalStatus(error));
      }
    }
  }

  await CancellationScope.nonCancellable(async () => {
    upsertSearchAttributes([{ key: DELIVERY_STATUS, value: state.status }]);
    if (state.status === 'succeeded' && patched(SUCCESS_RECORDED_BY_ATTEMPT)) return;
    await recordOutcome({ deliveryId: input.deliveryId, status: state.status });
  });
  return state;
}
