/**
 * What the activities report to metrics: the one seam between the delivery engine and the
 * service's metrics (src/metrics/ implements it; the worker's composition passes it in), as
 * delivery-records.ts is for the store. Labels are bounded: an event type (a registered catalog),
 * an attempt class, an outcome; never a subscription, account or delivery id.
 */
import type { DeliveryStatus } from '../core/model';

/**
 * How an attempt ended: the receiver's status class, or why there was no status. `timeout`: the
 * attempt's deadline passed; `network`: no answer for another reason (connection refused or
 * reset, DNS, TLS); `refused`: the target rules refused the URL or the address connected to.
 */
export type AttemptClass = '2xx' | '3xx' | '4xx' | '5xx' | 'timeout' | 'network' | 'refused';

export const ATTEMPT_CLASSES: readonly AttemptClass[] = ['2xx', '3xx', '4xx', '5xx', 'timeout', 'network', 'refused'];

/** How a delivery ended. */
export type DeliveryOutcome = Exclude<DeliveryStatus, 'pending'>;

export interface DeliveryMetrics {
  /** An attempt was made and recorded: its class and how long it took. */
  attemptMade(attempt: { readonly eventType: string; readonly class: AttemptClass; readonly durationMs: number }): void;
  /** A delivery went from pending to an end (each end counted once, however often it is written). */
  deliveryEnded(ended: { readonly eventType: string; readonly outcome: DeliveryOutcome }): void;
  /** A delivery's first 2xx, this long after its event was accepted. */
  firstSuccess(success: { readonly eventType: string; readonly sinceAcceptedMs: number }): void;
}

/** Metrics off: every report is dropped. */
export const NO_DELIVERY_METRICS: DeliveryMetrics = {
  attemptMade: () => undefined,
  deliveryEnded: () => undefined,
  firstSuccess: () => undefined,
};
