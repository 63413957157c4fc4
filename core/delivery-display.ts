import type { SearchAttributePair } from '@temporalio/common';
import { formatDuration } from './duration';
import type { DeliveryRetryPolicy } from './retry-policy';
import { ACCOUNT_ID, EVENT_ID, EVENT_TYPE, SUBSCRIPTION_ID } from './search-attributes';

/**
 * What the Temporal UI shows of a delivery workflow: its summary, details and search attributes,
 * built from ids and the target's host only (never the payload, a secret, or the URL's path and
 * query, which may carry a receiver's token). Workflow-safe: a subscriber workflow labels the
 * delivery workflows it starts with the same words the dispatcher uses.
 */
export interface DeliveryLabel {
  readonly eventId: string;
  readonly eventType: string;
  /** null for the one-off delivery to an event's callbackUrl. */
  readonly subscriptionId: string | null;
  readonly accountId: string | null;
  readonly targetHost: string;
  readonly retryPolicy: DeliveryRetryPolicy;
}

/** The target's host only: a URL's path and query may carry a receiver's token. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid URL';
  }
}

/** `order.created → api.example.com`: what the Temporal UI shows beside the workflow id. */
export function deliverySummary(label: Pick<DeliveryLabel, 'eventType' | 'targetHost'>): string {
  return `${label.eventType} → ${label.targetHost}`;
}

/** The retry policy in a line: `10s, ×2, at most 1h apart, for 48h, no attempt cap`. */
export function describeRetryPolicy(policy: DeliveryRetryPolicy): string {
  const growth = policy.backoffCoefficient === 1 ? 'fixed' : `×${policy.backoffCoefficient}`;
  const cap = policy.maximumAttempts === null ? 'no attempt cap' : `at most ${policy.maximumAttempts} attempts`;
  return `${formatDuration(policy.initialIntervalMs)}, ${growth}, at most ${formatDuration(policy.maximumIntervalMs)} apart, for ${formatDuration(policy.maxDurationMs)}, ${cap}`;
}

/** What the Temporal UI shows in a delivery's header, under its summary (Markdown). */
export function deliveryDetails(label: DeliveryLabel): string {
  return [
    `**Event** \`${label.eventType}\` \`${label.eventId}\``,
    `**Subscription** ${label.subscriptionId === null ? "the event's callbackUrl" : `\`${label.subscriptionId}\``}`,
    `**Account** ${label.accountId === null ? 'none (vendor level)' : `\`${label.accountId}\``}`,
    `**Target** ${label.targetHost}`,
    `**Retry policy** ${describeRetryPolicy(label.retryPolicy)}`,
  ].join('  \n');
}

/** The search attributes a delivery workflow starts with: event type and id, subscription, account. */
export function deliverySearchAttributes(label: DeliveryLabel): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [
    { key: EVENT_TYPE, value: label.eventType },
    { key: EVENT_ID, value: label.eventId },
  ];
  if (label.subscriptionId !== null) pairs.push({ key: SUBSCRIPTION_ID, value: label.subscriptionId });
  if (label.accountId !== null) pairs.push({ key: ACCOUNT_ID, value: label.accountId });
  return pairs;
}
