/** The domain model: what the store keeps and the API shows. */
import type { DeliveryRetryPolicy } from './retry-policy';

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'cancelled'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Subscribes to every event type. */
export const ALL_EVENT_TYPES = '*';

export interface EventType {
  readonly id: string;
  readonly description: string;
  readonly createdAt: Date;
}

export interface Subscription {
  readonly id: string;
  readonly url: string;
  readonly eventTypes: readonly string[];
  /** null: vendor level, receives the matching events of every account. */
  readonly accountId: string | null;
  readonly active: boolean;
  /** Nothing is posted while paused: its deliveries wait, and go out when it is resumed. */
  readonly paused: boolean;
  /** Deliveries per second to this subscription, across all workers; null: unlimited. */
  readonly throttleRate: number | null;
  readonly description: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly retryPolicy: DeliveryRetryPolicy;
  readonly health: SubscriptionHealth;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export const SUBSCRIPTION_HEALTH_STATUSES = ['healthy', 'failing', 'disabled'] as const;

/** How a subscription's receiver is doing, kept current by every attempt. */
export interface SubscriptionHealth {
  /** disabled: switched off for its failures; failing: its last attempt failed; healthy otherwise. */
  readonly status: (typeof SUBSCRIPTION_HEALTH_STATUSES)[number];
  /** Attempts in a row that failed, since the last success (or since it was enabled). */
  readonly consecutiveFailures: number;
  readonly lastSuccessAt: Date | null;
  readonly lastFailureAt: Date | null;
  /** The first failed attempt of the current run of failures; null after a success. */
  readonly failingSince: Date | null;
  readonly disabledAt: Date | null;
  readonly disabledReason: string | null;
}

/** What an attempt's write left of its subscription's health. */
export interface HealthAfterAttempt {
  readonly subscriptionId: string;
  readonly consecutiveFailures: number;
  readonly failingSince: Date | null;
}

/** An attempt as recorded: its number, and its subscription's health after it (none for a callback delivery). */
export interface RecordedAttempt {
  readonly attempt: number;
  readonly health: HealthAfterAttempt | null;
}

export interface WebhookEvent {
  readonly id: string;
  readonly type: string;
  readonly accountId: string | null;
  readonly data: unknown;
  /**
   * `data` as the JSON text the producer sent, byte for byte: what receivers get and the API
   * shows. Absent for events stored before it was kept (and events made in memory): `data`,
   * serialised, stands in.
   */
  readonly dataJson?: string;
  readonly callbackUrl: string | null;
  readonly createdAt: Date;
}

export interface Attempt {
  readonly attempt: number;
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly statusCode: number | null;
  readonly error: string | null;
  /** The first 1 KiB of the receiver's answer. */
  readonly responseBody: string | null;
}

export interface Delivery {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  /** null for the one-off delivery to an event's callbackUrl. */
  readonly subscriptionId: string | null;
  readonly accountId: string | null;
  readonly url: string;
  readonly status: DeliveryStatus;
  readonly attemptCount: number;
  readonly nextAttemptAt: Date | null;
  /** Its own delivery workflow's id (deliveryWorkflowId), whether or not that workflow exists yet. */
  readonly workflowId: string;
  /**
   * Throughput mode: the subscriber workflow run whose first attempt delivered it, while it has
   * no workflow of its own; null otherwise.
   */
  readonly fastPathRun: WorkflowRun | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * How deliveries are run. `per-delivery`: one delivery workflow each, from the first attempt.
 * `per-subscriber` (throughput mode): each subscription's deliveries are handed to its subscriber
 * workflow, which makes their first attempts; only a delivery whose first attempt was not
 * answered 2xx gets a delivery workflow. Deliveries to an event's callbackUrl are per delivery in
 * both. Workers run both workflow types always, so switching needs no drain.
 */
export type DeliveryMode = 'per-delivery' | 'per-subscriber';

export interface WorkflowRun {
  readonly workflowId: string;
  readonly runId: string;
}

/** What a delivery workflow needs to start: ids and settings, never the payload or a secret. */
export interface DeliveryPlan {
  readonly deliveryId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly subscriptionId: string | null;
  readonly accountId: string | null;
  readonly url: string;
  readonly retryPolicy: DeliveryRetryPolicy;
  /** Its subscription is throttled (throttleRate): in throughput mode it starts a delivery workflow of its own. @default false */
  readonly throttled?: boolean;
}

/** Everything one attempt needs, read fresh at every attempt so a fixed endpoint heals its deliveries. */
export interface AttemptContext {
  readonly delivery: Delivery;
  readonly event: WebhookEvent;
  /** Where to POST: the subscription's current URL, or the event's callbackUrl. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly secret: string;
  /** The secret a rotation replaced, while its grace period runs; deliveries are signed with both. */
  readonly previousSecret: string | null;
  /** False when the subscription was deleted or deactivated: the delivery ends as cancelled. */
  readonly subscriptionActive: boolean;
  /** Why the subscription was disabled for its failures, when it was; null otherwise. */
  readonly subscriptionDisabledReason: string | null;
  /** True while the subscription is paused: the attempt posts nothing and the delivery waits. */
  readonly subscriptionPaused: boolean;
  /** The subscription's deliveries per second, when it is throttled: each attempt reserves a slot first. */
  readonly subscriptionThrottleRate: number | null;
}

/** What a delivery's status write changed: the status it had, and its event type. */
export interface StatusChange {
  readonly previous: DeliveryStatus;
  readonly eventType: string;
}

export interface AttemptRecord {
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly responseBody: string | null;
  readonly url: string;
  readonly nextAttemptAt: Date | null;
  /** The receiver took it (2xx): the delivery is marked succeeded in the same write. @default false */
  readonly delivered?: boolean;
  /** The subscriber workflow run making this first attempt (throughput mode), kept with a delivered one. @default none */
  readonly fastPathRun?: WorkflowRun | undefined;
}

export const OPERATION_KINDS = ['recover', 'replay'] as const;
/** recover: resend a subscription's ended deliveries; replay: deliver past events it has no delivery for. */
export type OperationKind = (typeof OPERATION_KINDS)[number];

export const OPERATION_STATUSES = ['running', 'completed', 'cancelled', 'failed'] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

/** The statuses of the deliveries a recover may resend. */
export const RECOVERABLE_STATUSES = ['failed', 'cancelled'] as const;
export type RecoverableStatus = (typeof RECOVERABLE_STATUSES)[number];

/** Which deliveries (recover) or events (replay) an operation takes: those of events created in [since, until). */
export interface OperationFilter {
  readonly since: Date;
  /** The end of the window; the moment the operation started when none was given. */
  readonly until: Date;
  /** recover only: the statuses of the deliveries it resends. */
  readonly statuses?: readonly RecoverableStatus[];
}

/** A bulk operation on one subscription's deliveries, run by one workflow. */
export interface Operation {
  readonly id: string;
  readonly kind: OperationKind;
  readonly subscriptionId: string;
  readonly accountId: string | null;
  readonly status: OperationStatus;
  readonly filter: OperationFilter;
  /** Deliveries (recover) or events (replay) it takes, counted when it started, and grown if it found more. */
  readonly matched: number;
  /** Those it has handled: resent or started (or found already delivered or resent). */
  readonly done: number;
  readonly workflowId: string;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
}
