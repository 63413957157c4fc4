import type { DeliveryStatus } from '../core/model';
import type { DeliveryRecords } from './delivery-records';
import { NO_DELIVERY_METRICS, type DeliveryMetrics } from './metrics';
import type { OperationalEvents } from './operational-events';

export interface RecordOutcomeInput {
  readonly deliveryId: string;
  readonly status: DeliveryStatus;
  /** Why it ended so, for a failed or cancelled one. @default unknown */
  readonly reason?: string | null;
}

export interface RecordOutcomeDeps {
  readonly deliveries: DeliveryRecords;
  /** Where deliveries' ends are counted. @default none */
  readonly metrics?: DeliveryMetrics;
  /** Told of deliveries that ended failed. @default none */
  readonly operationalEvents?: OperationalEvents;
}

/**
 * Writes the outcome that no attempt recorded (failed or cancelled; before the
 * success-recorded-by-attempt patch, every outcome) to the store, where the API lists and
 * filters it, and counts the delivery's end when this write is what ended it. A failed delivery
 * is reported as an operational event, then written: a retried write, finding it failed already,
 * reports it again, and the report's id makes that harmless.
 */
export function createRecordOutcome(deps: RecordOutcomeDeps) {
  return async function recordOutcome(input: RecordOutcomeInput): Promise<void> {
    if (input.status === 'failed') {
      await deps.operationalEvents?.deliveryFailed({ deliveryId: input.deliveryId, reason: input.reason ?? null });
    }
    const change = await deps.deliveries.setStatus(input.deliveryId, input.status);
    // Counted once: a retried write finds the delivery ended already.
    if (change?.previous === 'pending' && input.status !== 'pending') {
      (deps.metrics ?? NO_DELIVERY_METRICS).deliveryEnded({ eventType: change.eventType, outcome: input.status });
    }
  };
}
