/**
 * What the delivery engine tells of deliveries that ended failed, so that the service publishes
 * its operational event (core/operational-events.ts). The worker's composition implements it.
 */
export interface OperationalEvents {
  /**
   * A delivery ended failed, for `reason`. Publishes `webhook.delivery.failed` once per failure,
   * however often it is told, unless the delivery was itself of an operational event.
   */
  deliveryFailed(input: { readonly deliveryId: string; readonly reason: string | null }): Promise<void>;
}
