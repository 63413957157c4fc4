import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes that make every delivery findable in the Temporal UI, e.g.
 * `WebhookSubscriptionId = "sub_…" AND WebhookDeliveryStatus = "failed"`.
 * They carry ids and status only: never secrets, URLs with credentials or payloads.
 */
export const EVENT_TYPE = defineSearchAttributeKey('WebhookEventType', SearchAttributeType.KEYWORD);
export const EVENT_ID = defineSearchAttributeKey('WebhookEventId', SearchAttributeType.KEYWORD);
export const SUBSCRIPTION_ID = defineSearchAttributeKey('WebhookSubscriptionId', SearchAttributeType.KEYWORD);
export const ACCOUNT_ID = defineSearchAttributeKey('WebhookAccountId', SearchAttributeType.KEYWORD);
export const DELIVERY_STATUS = defineSearchAttributeKey('WebhookDeliveryStatus', SearchAttributeType.KEYWORD);

/**
 * A bulk operation's workflow (recover or replay): its kind, and its progress as it goes, e.g.
 * `WebhookOperationKind = "recover" AND WebhookOperationRemaining > 0`.
 */
export const OPERATION_KIND = defineSearchAttributeKey('WebhookOperationKind', SearchAttributeType.KEYWORD);
export const OPERATION_DONE = defineSearchAttributeKey('WebhookOperationDone', SearchAttributeType.INT);
export const OPERATION_REMAINING = defineSearchAttributeKey('WebhookOperationRemaining', SearchAttributeType.INT);

export const SEARCH_ATTRIBUTE_KEYS = [
  EVENT_TYPE,
  EVENT_ID,
  SUBSCRIPTION_ID,
  ACCOUNT_ID,
  DELIVERY_STATUS,
  OPERATION_KIND,
  OPERATION_DONE,
  OPERATION_REMAINING,
];
