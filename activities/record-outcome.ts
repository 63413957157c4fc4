import type { DeliveryStatus } from '../core/model';
import type { DeliveryRecords } from './delivery-records';

export interface RecordOutcomeInput {
  readonly deliveryId: string;
  readonly status: DeliveryStatus;
}

/**
 * Writes the outcome that no attempt recorded (failed or cancelled; before the
 * success-recorded-by-attempt patch, every outcome) to the store, where the API lists and
 * filters it.
 */
export function createRecordOutcome(deps: { deliveries: DeliveryRecords }) {
  return async function recordOutcome(input: RecordOutcomeInput): Promise<void> {
    await deps.deliveries.setStatus(input.deliveryId, input.status);
  };
}
