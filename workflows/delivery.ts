import { ApplicationFailureCategory, RetryState } from '@temporalio/common';
import {
  ActivityCancellationType,
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DeliveryStatus } from '../core/model';
import { DELIVERY_STATUS } from '../core/search-attributes';
import { SLOT_LEAD_MS } from '../core/throttle';
import {
  cancelSignal,
  cancelUpdate,
  DELIVERY_FAILURE_TYPES,
  NATIVE_OUTCOME_REVISION,
  TURNS_IN_ACTIVITY_REVISION,
  resendSignal,
  resendUpdate,
  resumeSignal,
  statusQuery,
  type DeliveryFailureType,
  type DeliveryState,
  type DeliveryWorkflowInput,
} from './messages';
import { FINAL_FAILURE_TYPES, toTemporalRetryPolicy, type DeliveryRetryPolicy } from '../core/retry-policy';
import {
  ATTEMPT_BOOKKEEPING_MS,
  attemptInput,
  firstAttemptActivity,
  firstAttemptOutcome,
  notSentOf,
  type FirstAttemptOutcome,
} from './first-attempt';

/** Since this patch, a delivered attempt records the delivery's success itself (see postWebhook). */
const SUCCESS_RECORDED_BY_ATTEMPT = 'success-recorded-by-attempt';
/**
 * Since this patch, each run of attempts starts with a local activity: the worker holding the
 * workflow task makes the first attempt itself, with no trip through a task queue. It implies the
 * patch above, so a new delivery records one patch (each adds a search attribute write).
 */
const FIRST_ATTEMPT_LOCAL = 'first-attempt-local';
/**
 * Since this patch (and in every run of revision 1 and later: see NATIVE_OUTCOME_REVISION),
 * Temporal's own status tells the outcome: a failed delivery ends its workflow
 * as Failed (its failure type says why), a cancelled one as Canceled; only those write their
 * status (search attribute and store), a delivered one leaves that to its attempt. Long runs of
 * resends continue as new. It implies the patches above.
 */
const NATIVE_OUTCOME = 'native-outcome';
/** A run that took this many resends continues as new, so its history stays short whatever operators do. */
const RESENDS_PER_RUN = 100;
/**
 * While the subscription is paused, a delivery looks again this often even without a resume
 * signal (one sent before its workflow existed, or lost). The signal wakes it at once.
 */
const PAUSE_RECHECK_MS = 60_000;
/** A cancel reaches an attempt in flight within about 80% of this (the SDK's heartbeat throttle). */
const ATTEMPT_HEARTBEAT_TIMEOUT_MS = 3_000;
const WINDOW_CLOSED = 'no attempt left in the retry window';

const { recordOutcome, requestCancellation } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

function attemptActivity(
  input: DeliveryWorkflowInput,
  remainingMs: number,
  attemptsBefore: number,
): Activities['postWebhook'] {
  return proxyActivities<Activities>({
    // No attempt starts after the window closes: Temporal's own deadline for all retries.
    scheduleToCloseTimeout: remainingMs,
    startToCloseTimeout: input.attemptTimeoutMs + ATTEMPT_BOOKKEEPING_MS,
    heartbeatTimeout: ATTEMPT_HEARTBEAT_TIMEOUT_MS,
    retry: toTemporalRetryPolicy(input.retryPolicy, attemptsBefore),
    // Wait for an aborted attempt to stop before a resend starts the next, so two never overlap.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    summary: 'POST webhook',
  }).postWebhook;
}

/** How a run of attempts ended: the delivery's status, why, and for a failure its type. */
interface Ending {
  readonly status: DeliveryStatus;
  readonly reason: string | null;
  readonly failureType?: DeliveryFailureType;
}

const DELIVERED: Ending = { status: 'succeeded', reason: null };
const CANCELLED_BY_OPERATOR: Ending = { status: 'cancelled', reason: 'cancelled by an operator' };

/** No attempt fits in the retry window any more; names the last attempt's failure when there is one. */
function windowClosed(lastAttempt: string | undefined): Ending {
  return {
    status: 'failed',
    reason: lastAttempt === undefined ? WINDOW_CLOSED : `${WINDOW_CLOSED}; last attempt: ${lastAttempt}`,
    failureType: DELIVERY_FAILURE_TYPES.retryWindowClosed,
  };
}

/** The end that a final failure of the given type (FINAL_FAILURE_TYPES) gives the delivery. */
function finalEnding(type: string | undefined, reason: string): Ending {
  switch (type) {
    case FINAL_FAILURE_TYPES.subscriptionGone:
      return { status: 'cancelled', reason };
    case FINAL_FAILURE_TYPES.targetRefused:
      return { status: 'failed', reason, failureType: DELIVERY_FAILURE_TYPES.targetRefused };
    case FINAL_FAILURE_TYPES.receiverRejected:
      return { status: 'failed', reason, failureType: DELIVERY_FAILURE_TYPES.receiverRejected };
    default:
      return { status: 'failed', reason, failureType: DELIVERY_FAILURE_TYPES.attemptsExhausted };
  }
}

/**
 * How a failed first attempt ends the delivery; undefined when the next attempt is due at
 * `outcome.nextAttemptAt`. A retryable failure with no attempt left used up the attempts, or the window.
 */
function endingOfFirstAttempt(
  outcome: Exclude<FirstAttemptOutcome, { kind: 'paused' | 'throttled' }>,
  policy: DeliveryRetryPolicy,
): Ending | undefined {
  if (outcome.kind === 'final') return finalEnding(outcome.failureType, outcome.reason);
  if (outcome.nextAttemptAt !== null) return undefined;
  return policy.maximumAttempts === 1
    ? {
        status: 'failed',
        reason: outcome.reason ?? 'the attempt timed out',
        failureType: DELIVERY_FAILURE_TYPES.attemptsExhausted,
      }
    : windowClosed(outcome.reason);
}

/**
 * How a run of attempts begins: with a local first attempt, with the outcome of a first attempt
 * made elsewhere (a subscriber workflow's), or (replaying a delivery from before local first
 * attempts) straight with the regular activity.
 */
type FirstAttempt = 'local' | 'none' | FirstAttemptOutcome;

/**
 * How a run of attempts waits while the subscription is paused: `mark` before an attempt, then
 * `waitAfter(mark)` when it found the subscription paused, which returns once a resume signal
 * came after the mark (none is missed between the two), or after PAUSE_RECHECK_MS, to look again.
 */
interface PauseGate {
  readonly mark: () => number;
  readonly waitAfter: (mark: number) => Promise<void>;
}

/**
 * Waits, durably and holding no worker, for the throttle slot the delivery reserved, or until
 * `leadMs` before it (the attempt waits the rest); false when the slot begins after the retry
 * window closes.
 */
async function waitForSlot(sendAt: number, windowEndsAt: number, leadMs: number): Promise<boolean> {
  if (sendAt >= windowEndsAt) return false;
  await sleep(Math.max(1, sendAt - leadMs - Date.now()));
  return true;
}

/**
 * One run of attempts, until one is delivered or none is left: the first attempt (see
 * FirstAttempt), then the regular activity under the retry policy. An attempt that finds the
 * subscription paused, or throttled with its turn to come, posts nothing and uses no attempt: the
 * run waits (see PauseGate; or for the slot it reserved) and tries again. Returns how the run
 * ended, or throws the regular activity's failure or a cancellation.
 */
async function runAttempts(
  input: DeliveryWorkflowInput,
  windowEndsAt: number,
  first: FirstAttempt,
  pause: PauseGate,
): Promise<Ending> {
  // From revision 2 the regular activity takes a throttled delivery's turns, waiting the last SLOT_LEAD_MS itself.
  const turnsInActivity = (input.revision ?? 0) >= TURNS_IN_ACTIVITY_REVISION;
  const slotLeadMs = turnsInActivity ? SLOT_LEAD_MS : 0;
  let attemptsBefore = 0;
  let next = first;
  /** The throttle slot the next attempt holds, when it waited for one. */
  let slot: number | undefined;
  while (next !== 'none') {
    let outcome: FirstAttemptOutcome;
    const mark = pause.mark();
    if (next === 'local') {
      try {
        const attempt = attemptInput(input.deliveryId, input, 0, slot);
        await firstAttemptActivity(input, windowEndsAt - Date.now())(attempt);
        return DELIVERED;
      } catch (error) {
        if (isCancellation(error)) throw error;
        outcome = firstAttemptOutcome(error, input.retryPolicy, windowEndsAt);
      }
    } else {
      outcome = next;
    }
    slot = undefined;
    if (outcome.kind === 'paused') {
      if (windowEndsAt <= Date.now()) return windowClosed(undefined);
      await pause.waitAfter(mark);
      next = 'local';
      continue;
    }
    if (outcome.kind === 'throttled') {
      if (!(await waitForSlot(outcome.sendAt, windowEndsAt, slotLeadMs))) return windowClosed(undefined);
      slot = outcome.sendAt;
      if (turnsInActivity) break;
      next = 'local';
      continue;
    }
    const ending = endingOfFirstAttempt(outcome, input.retryPolicy);
    if (ending !== undefined) return ending;
    if (outcome.kind === 'retry' && outcome.nextAttemptAt !== null) {
      await sleep(Math.max(0, outcome.nextAttemptAt - Date.now()));
    }
    attemptsBefore = 1;
    break;
  }
  for (;;) {
    const remainingMs = windowEndsAt - Date.now();
    if (remainingMs <= 0) return windowClosed(undefined);
    const mark = pause.mark();
    try {
      const attempt = attemptInput(input.deliveryId, input, attemptsBefore, slot);
      await attemptActivity(input, remainingMs, attemptsBefore)(attempt);
      return DELIVERED;
    } catch (error) {
      const notSent = notSentOf(error);
      if (notSent === undefined) throw error;
      attemptsBefore = notSent.attemptsMade;
      slot = undefined;
      if (notSent.kind === 'paused') {
        await pause.waitAfter(mark);
      } else {
        if (!(await waitForSlot(notSent.sendAt, windowEndsAt, slotLeadMs))) return windowClosed(undefined);
        slot = notSent.sendAt;
      }
    }
  }
}

/** What ended the attempts: the receiver's refusal, the target's, the subscription's removal, or time. */
function finalStatus(error: unknown): Ending {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  const lastAttempt = (failure: unknown): string | undefined =>
    failure instanceof Error ? failure.message : undefined;
  if (cause instanceof TimeoutFailure) return windowClosed(lastAttempt(cause.cause));
  // The next backoff would end past the window: Temporal gives up at once, with the last attempt's failure.
  if (error instanceof ActivityFailure && error.retryState === RetryState.TIMEOUT)
    return windowClosed(lastAttempt(cause));
  const reason = cause instanceof Error ? cause.message : String(cause);
  return finalEnding(cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined, reason);
}

/** Refuses an operator's update once the delivery has ended: the caller gets the reason. */
function assertPending(state: DeliveryState, action: 'cancel' | 'resend'): void {
  if (state.status !== 'pending') {
    throw ApplicationFailure.nonRetryable(`cannot ${action}: the delivery already ${state.status}`, 'DeliveryEnded');
  }
}

/**
 * How a run ends since NATIVE_OUTCOME: delivered → Completed (the attempt recorded it); failed
 * → Failed, with the failure's type and reason; cancelled → Canceled, which needs a
 * cancellation request: Temporal's own (kept in `cancellation`), or one this run asks for.
 */
async function endNatively(
  input: DeliveryWorkflowInput,
  state: DeliveryState,
  ending: Ending,
  cancellation: unknown,
): Promise<DeliveryState> {
  if (state.status === 'succeeded') return state;
  await CancellationScope.nonCancellable(async () => {
    upsertSearchAttributes([{ key: DELIVERY_STATUS, value: state.status }]);
    await recordOutcome({ deliveryId: input.deliveryId, status: state.status, reason: state.reason });
  });
  if (state.status === 'failed') {
    throw ApplicationFailure.create({
      message: state.reason ?? 'delivery failed',
      type: ending.failureType ?? DELIVERY_FAILURE_TYPES.attemptsExhausted,
      nonRetryable: true,
      details: [state],
      // The receiver's doing, not a fault of ours: logged as a line, not a stack trace.
      category: ApplicationFailureCategory.BENIGN,
    });
  }
  if (cancellation !== undefined) throw cancellation;
  await CancellationScope.nonCancellable(() => requestCancellation());
  // The request comes back as this workflow's own cancellation, which ends it as Canceled.
  return await CancellationScope.current().cancelRequested;
}

/**
 * One delivery of one event to one subscription. Runs the postWebhook activity under the
 * subscription's retry policy until the receiver answers 2xx, refuses for good, or the window
 * closes. `cancel` (update, signal, or a Temporal cancellation) stops it; `resend` skips the
 * remaining backoff.
 */
export async function deliveryWorkflow(input: DeliveryWorkflowInput): Promise<DeliveryState> {
  // A run started for revision 1 or later takes the current code with no patch check: a patch
  // costs every new delivery a marker and a search attribute write in its history.
  const current = (input.revision ?? 0) >= NATIVE_OUTCOME_REVISION;
  const nativeOutcome = current || patched(NATIVE_OUTCOME);
  const firstAttemptLocal = nativeOutcome || patched(FIRST_ATTEMPT_LOCAL);
  const windowStartedAt = input.windowStartedAt ?? Date.now();
  const windowEndsAt = windowStartedAt + input.retryPolicy.maxDurationMs;
  const state: DeliveryState = {
    deliveryId: input.deliveryId,
    eventId: input.eventId,
    subscriptionId: input.subscriptionId,
    status: 'pending',
    windowStartedAt: new Date(windowStartedAt).toISOString(),
    windowEndsAt: new Date(windowEndsAt).toISOString(),
    resends: input.resendsBefore ?? 0,
    reason: null,
  };
  let ending: Ending = DELIVERED;
  let attempts: CancellationScope | undefined;
  let cancelRequested = false;
  let resendRequested = false;
  let resendsThisRun = 0;
  /** Whether the first attempt of `input.firstAttempt` (made by a subscriber workflow) was taken into account. */
  let firstAttemptTaken = false;
  /** Temporal's own cancellation of this workflow, when that is what stopped it. */
  let cancellation: unknown;

  const cancel = (): void => {
    cancelRequested = true;
    attempts?.cancel();
  };
  const resend = (): void => {
    resendRequested = true;
    state.resends += 1;
    resendsThisRun += 1;
    attempts?.cancel();
  };
  /** Resume signals taken so far (see PauseGate). */
  let resumes = 0;
  const pause: PauseGate = {
    mark: () => resumes,
    waitAfter: async (mark) => {
      await condition(() => resumes > mark, Math.max(1, Math.min(PAUSE_RECHECK_MS, windowEndsAt - Date.now())));
    },
  };
  setHandler(resumeSignal, () => {
    resumes += 1;
  });
  setHandler(statusQuery, () => state);
  setHandler(cancelSignal, cancel);
  setHandler(resendSignal, () => {
    if (state.status === 'pending') resend();
  });
  setHandler(cancelUpdate, cancel, { validator: () => assertPending(state, 'cancel') });
  setHandler(resendUpdate, resend, { validator: () => assertPending(state, 'resend') });

  while (state.status === 'pending') {
    resendRequested = false;
    if (cancelRequested) {
      ending = CANCELLED_BY_OPERATOR;
      Object.assign(state, { status: ending.status, reason: ending.reason });
      break;
    }
    const remainingMs = windowEndsAt - Date.now();
    if (remainingMs <= 0) {
      ending = windowClosed(undefined);
      Object.assign(state, { status: ending.status, reason: ending.reason });
      break;
    }
    attempts = new CancellationScope();
    try {
      const first: FirstAttempt =
        input.firstAttempt !== undefined && !firstAttemptTaken
          ? input.firstAttempt
          : firstAttemptLocal
            ? 'local'
            : 'none';
      firstAttemptTaken = true;
      ending = await attempts.run(() => runAttempts(input, windowEndsAt, first, pause));
      Object.assign(state, { status: ending.status, reason: ending.reason });
    } catch (error) {
      // Anything else is a bug here, not the receiver's doing: fail the workflow task so that a
      // fixed worker resumes the delivery, instead of recording a false outcome.
      if (!(error instanceof ActivityFailure) && !isCancellation(error)) throw error;
      if (cancelRequested || (isCancellation(error) && !resendRequested)) {
        if (!cancelRequested) cancellation = error;
        ending = CANCELLED_BY_OPERATOR;
        Object.assign(state, { status: ending.status, reason: ending.reason });
      } else if (!resendRequested) {
        ending = finalStatus(error);
        Object.assign(state, { status: ending.status, reason: ending.reason });
      }
    }
    if (nativeOutcome && state.status === 'pending' && !cancelRequested) {
      if (resendsThisRun >= RESENDS_PER_RUN || workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        await continueAsNew<typeof deliveryWorkflow>({
          ...input,
          firstAttempt: undefined,
          windowStartedAt,
          resendsBefore: state.resends,
        });
      }
    }
  }

  if (nativeOutcome) return endNatively(input, state, ending, cancellation);
  await CancellationScope.nonCancellable(async () => {
    upsertSearchAttributes([{ key: DELIVERY_STATUS, value: state.status }]);
    if (state.status === 'succeeded' && (firstAttemptLocal || patched(SUCCESS_RECORDED_BY_ATTEMPT))) return;
    await recordOutcome({ deliveryId: input.deliveryId, status: state.status, reason: state.reason });
  });
  return state;
}
