/**
 * The messages a delivery workflow handles: the one place that names them. The API, the workflow,
 * the tests and an operator signalling from the Temporal UI all use these names.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { DeliveryRetryPolicy } from '../core/retry-policy';
import type { DeliveryStatus } from '../core/model';

/** Stop the delivery: an attempt in flight is aborted, no further attempt is made. */
export const cancelSignal = defineSignal('cancel');

/** Make a new attempt now, skipping the remaining backoff. */
export const resendSignal = defineSignal('resend');

/** Where the delivery stands. */
export const statusQuery = defineQuery<DeliveryState>('status');

export interface DeliveryWorkflowInput {
  readonly deliveryId: string;
  readonly eventId: string;
  readonly subscriptionId: string | null;
  readonly retryPolicy: DeliveryRetryPolicy;
  /** Deadline of one attempt, ms. */
  readonly attemptTimeoutMs: number;
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
