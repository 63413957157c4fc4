/**
 * The messages a subscriber workflow (throughput mode) handles, and its limits: the one place that
 * names them. The dispatcher enqueues through them, the API cancels through them.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { DeliveryRetryPolicy } from '../core/retry-policy';

/** A delivery handed to a subscriber workflow: ids and settings, never the payload, a secret or the URL's path. */
export interface QueuedDelivery {
  readonly deliveryId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly accountId: string | null;
  /** The target's host, for the labels of the delivery workflow a failed first attempt is handed to. */
  readonly targetHost: string;
  readonly retryPolicy: DeliveryRetryPolicy;
}

export interface SubscriberWorkflowInput {
  readonly subscriptionId: string;
  /** Deadline of one attempt, ms. */
  readonly attemptTimeoutMs: number;
  /** Deliveries taken but not yet attempted, carried over when a run continues as new. @default none */
  readonly queued?: readonly QueuedDelivery[];
  /** Deliveries the runs this one continues took to an end or handed on. @default 0 */
  readonly handledBefore?: number;
}

export interface EnqueueResult {
  /** How many of the deliveries sent, from the first, the workflow holds now (queued or already held). */
  readonly accepted: number;
  /** Deliveries it holds in all, queued or being attempted. */
  readonly outstanding: number;
}

/**
 * Hands deliveries to the workflow, in order, as many as it has room for (the rest are the
 * sender's to send again). Refused, with a SUBSCRIBER_REFUSALS type, when it holds its limit or
 * is about to continue as new or end: the sender retries, and reaches the next run.
 */
export const enqueueUpdate = defineUpdate<EnqueueResult, [readonly QueuedDelivery[]]>('enqueue');

/** `cancelled`: the workflow held it and it ended cancelled; `not-held`: it is not the workflow's (any more). */
export type CancelQueuedResult = 'cancelled' | 'not-held';

/**
 * Cancels a delivery the workflow holds: a queued one is removed, an attempt in flight is aborted
 * (unless it was delivered first); either way the delivery ends cancelled.
 */
export const cancelQueuedUpdate = defineUpdate<CancelQueuedResult, [deliveryId: string]>('cancelQueued');

export interface SubscriberState {
  readonly subscriptionId: string;
  readonly queued: number;
  readonly attempting: number;
  /** Deliveries taken to an end or handed on, this run and the runs it continues. */
  readonly handled: number;
}

export const subscriberStatusQuery = defineQuery<SubscriberState>('subscriberStatus');

/** Why an enqueue was refused: the failure type the sender sees. */
export const SUBSCRIBER_REFUSALS = Object.freeze({
  /** It holds SUBSCRIBER_LIMITS.outstanding deliveries: send again once some are done. */
  full: 'SubscriberFull',
  /** It is continuing as new or ending: send again at once, to the next run. */
  closing: 'SubscriberClosing',
});

export const SUBSCRIBER_LIMITS = Object.freeze({
  /**
   * Deliveries one subscriber workflow holds at most, queued or being attempted. Past a few
   * hundred, carrying the queue over at continue-as-new stalls the workflow; the rest wait in
   * the outbox, oldest first.
   */
  outstanding: 200,
  /** First attempts in flight at once, per subscriber. */
  concurrentAttempts: 32,
  /** With nothing to do for this long, ms, the workflow ends; the next delivery starts it again. */
  idleMs: 60_000,
  /** History length past which a run continues as new (before Temporal's own suggestion, at 4,096+). */
  historyEvents: 8_000,
});
