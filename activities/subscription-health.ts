/**
 * What the delivery engine tells of a subscription's failures, so that it may be disabled (410
 * Gone, or no success for too long). The worker's composition implements it.
 */
import type { HealthAfterAttempt } from '../core/model';

export interface SubscriptionHealthGuard {
  /**
   * After a failed attempt of one of the subscription's deliveries (`deliveryId`): disables the
   * subscription when its failures call for it, and ends its other pending deliveries.
   */
  afterFailedAttempt(input: {
    readonly deliveryId: string;
    readonly health: HealthAfterAttempt;
    readonly statusCode: number | null;
  }): Promise<void>;
}
