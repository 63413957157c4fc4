import type { DeliveryStatus } from '../core/model';
import type { DeliveryRecords } from './delivery-records';
import { NO_DELIVERY_METRICS, type DeliveryMetrics } from './metrics';

export interface RecordOutcomeInput {
  readonly deliveryId: string;
  readonly status: DeliveryStatus;
}

/**
 * Writes the outcome that no attempt recorded (failed or cancelled; before the
 * success-recorded-by-attempt patch, every outcome) to the store, where the API lists and
 * filters it, and counts the delivery's end when this write is what ended it.
 */
export function createRecordOutcome(deps: { deliveries: DeliveryRecords; metrics?: DeliveryMetrics }) {
  return async function recordOutcome(input: RecordOutcomeInput): Promise<void> {
    const change = await deps.deliveries.setStatus(input.deliveryId, input.status);
    // Counted once: a retried write finds the delivery ended already.
    if (change?.previous === 'pending' && input.status !== 'pending') {
      (deps.metrics ?? NO_DELIVERY_METRICS).deliveryEnded({ eventType: change.eventType, outcome: input.status });
    }
  };
}
