/**
 * The messages a delivery workflow handles: the one place that names them. The API, the workflow,
 * the tests and an operator signalling from the Temporal UI all use these names.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { DeliveryRetryPolicy } from '../core/retry-policy';
import type { DeliveryStatus } from '../core/model';
import type { FirstAttemptOutcome } from './first-attempt';

/** Stop the delivery: an attempt in flight is aborted, no further attempt is made. */
export const cancelSignal = defineSignal('cancel');

/** Make a new attempt now, skipping the remaining backoff. */
export const resendSignal = defineSignal('resend');

/** The subscription was resumed: a delivery waiting while it was paused makes its attempt now. */
export const resumeSignal = defineSignal('resume');

/**
 * Stop the delivery, as the cancel signal does, but answered: refused (with the reason) once the
 * delivery has ended. The API cancels through this update.
 */
export const cancelUpdate = defineUpdate<void>('cancel');

/** Make a new attempt now, as the resend signal does; refused once the delivery has ended. */
export const resendUpdate = defineUpdate<void>('resend');

/**
 * Why a delivery failed: the type of the failure its workflow ends with (the Temporal UI's
 * Failures tab and `ExecutionStatus = "Failed"` find them).
 */
export const DELIVERY_FAILURE_TYPES = Object.freeze({
  /** The receiver refused it for good (most 4xx). */
  receiverRejected: 'ReceiverRejected',
  /** The target is not allowed (the target rules). */
  targetRefused: 'TargetRefused',
  /** No attempt fits in the retry window any more. */
  retryWindowClosed: 'RetryWindowClosed',
  /** The retry policy's maximumAttempts were made. */
  attemptsExhausted: 'AttemptsExhausted',
});

export type DeliveryFailureType = (typeof DELIVERY_FAILURE_TYPES)[keyof typeof DELIVERY_FAILURE_TYPES];

/** Where the delivery stands. */
export const statusQuery = defineQuery<DeliveryState>('status');

/**
 * The revision of the delivery workflow's code that new runs are started for, carried in their
 * input. Changes to what the workflow does are made by raising it and branching on
 * `input.revision`, not with a patch: the input is in the history, so replay takes the branch
 * the run was started with, and new runs pay for no patch marker. Runs without a revision are
 * older, and their branches are chosen by the patches in workflows/delivery.ts.
 * 1: Temporal's status tells the outcome, first attempt local, success recorded by the attempt.
 * 2: a throttled delivery wakes SLOT_LEAD_MS before its slot and asks for its turn with the
 *    regular activity, which waits the rest (a local one would be cancelled, its POST perhaps
 *    sent, if the workflow left the worker's cache meanwhile).
 */
export const DELIVERY_WORKFLOW_REVISION = 2;
/** The revision from which the patches in workflows/delivery.ts are taken as applied. */
export const NATIVE_OUTCOME_REVISION = 1;
/** The revision from which a throttled delivery's turns are taken by the regular activity. */
export const TURNS_IN_ACTIVITY_REVISION = 2;

export interface DeliveryWorkflowInput {
  readonly deliveryId: string;
  readonly eventId: string;
  readonly subscriptionId: string | null;
  readonly retryPolicy: DeliveryRetryPolicy;
  /** Deadline of one attempt, ms. */
  readonly attemptTimeoutMs: number;
  /** When the retry window opened (ms since the epoch), carried over when a run continues as new. @default now */
  readonly windowStartedAt?: number;
  /** Resends taken by the runs this one continues. @default 0 */
  readonly resendsBefore?: number;
  /** The code revision the run was started for (DELIVERY_WORKFLOW_REVISION). @default 0: patches decide */
  readonly revision?: number;
  /**
   * The outcome of a first attempt a subscriber workflow made (throughput mode), which this run
   * takes over instead of making its own; its retry window opened with that attempt
   * (`windowStartedAt`). @default none: the run makes its first attempt itself
   */
  readonly firstAttempt?: FirstAttemptOutcome | undefined;
}

export interface DeliveryState {
  readonly deliveryId: string;
  readonly eventId: string;
  readonly subscriptionId: string | null;
  status: DeliveryStatus;
  /** When this run's retry window opened and when it closes (ISO 8601). */
  readonly windowStartedAt: string;
  readonly windowEndsAt: string;
  /** Resends this run has taken. */
  resends: number;
  /** Why the delivery failed or was cancelled; null while pending or after success. */
  reason: string | null;
}
