import type { DeliveryStatus } from '../src/domain/model';
import type { DeliveryStore } from '../src/store/deliveries';

export interface RecordOutcomeInput {
  readonly deliveryId: string;
  readonly status: DeliveryStatus;
}

/** Writes the delivery's status to the store, where the API lists and filters it. */
export function createRecordOutcome(deps: { deliveries: DeliveryStore }) {
  return async function recordOutcome(input: RecordOutcomeInput): Promise<void> {
    await deps.deliveries.setStatus(input.deliveryId, input.status);
  };
}
