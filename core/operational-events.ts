/**
 * Operational events: what the service itself tells operators about their endpoints, published
 * through its own delivery machinery as events of reserved types. Clients may subscribe to them
 * but never publish them; the `webhook.` prefix is the service's own.
 */

/** The failed attempts in a row at which a subscription is reported failing, once per run of failures. */
export const FAILING_THRESHOLD = 10;

export const OPERATIONAL_EVENT_TYPES = Object.freeze({
  subscriptionDisabled: 'webhook.subscription.disabled',
  subscriptionFailing: 'webhook.subscription.failing',
  deliveryFailed: 'webhook.delivery.failed',
});

/** What each operational event type means, as registered in the catalog. */
export const OPERATIONAL_EVENT_DESCRIPTIONS: Readonly<Record<string, string>> = Object.freeze({
  [OPERATIONAL_EVENT_TYPES.subscriptionDisabled]:
    'A subscription was disabled for its failures (a 410 Gone, or no success for WEBHOOKS_DISABLE_AFTER). data: subscriptionId, url, reason, failingSince',
  [OPERATIONAL_EVENT_TYPES.subscriptionFailing]: `A subscription reached ${FAILING_THRESHOLD} failed attempts in a row. data: subscriptionId, url, reason, failingSince, consecutiveFailures`,
  [OPERATIONAL_EVENT_TYPES.deliveryFailed]:
    'A delivery ended failed. data: deliveryId, eventId, eventType, subscriptionId, reason',
});

/** Event types starting so belong to the service: clients can neither register nor publish them. */
export const RESERVED_EVENT_TYPE_PREFIX = 'webhook.';

export function isReservedEventType(type: string): boolean {
  return type.startsWith(RESERVED_EVENT_TYPE_PREFIX);
}
