/**
 * What the delivery engine tells of a subscription's failures, so that it may be reported
 * failing or disabled (410 Gone, or no success for too long). The worker's composition implements it.
 */
import type { HealthAfterAttempt } from '../core/model';

/** A failed attempt, as the health guard is told of it. */
export interface FailedAttempt {
  readonly deliveryId: string;
  /** The delivery's event type: an operational event's failures are never reported in turn. */
  readonly eventType: string;
  /** Where it was posted. */
  readonly url: string;
  readonly statusCode: number | null;
  /** What went wrong, as recorded with the attempt. */
  readonly reason: string;
  readonly health: HealthAfterAttempt;
}

export interface SubscriptionHealthGuard {
  /**
   * After a failed attempt of one of the subscription's deliveries: reports the subscription
   * failing when it reaches the threshold, disables it when its failures call for it, and ends its
   * other pending deliveries.
   */
  afterFailedAttempt(attempt: FailedAttempt): Promise<void>;
}
