import type { DeliveryStatus } from '../../core/model';

/**
 * The delivery status a closed workflow run stands for, by its execution status as the client's
 * describe() names it. Terminated counts as cancelled (an operator stopped it). A run from
 * before Temporal's status told the outcome completes whatever the outcome: its result says it.
 */
export const DELIVERY_STATUS_OF_CLOSED_RUN: Readonly<Record<string, DeliveryStatus | undefined>> = {
  COMPLETED: 'succeeded',
  FAILED: 'failed',
  TIMED_OUT: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'cancelled',
};

/** Visibility-query names of the closed statuses that do not mean success. */
export const UNSUCCESSFUL_CLOSE_STATUSES = ['Failed', 'TimedOut', 'Canceled', 'Terminated'] as const;
