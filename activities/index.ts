import type { Client } from '@temporalio/client';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { TargetPolicy } from '../core/targets';
import type { DeliveryRecords } from './delivery-records';
import type { DeliveryMetrics } from './metrics';
import type { SubscriptionHealthGuard } from './subscription-health';
import type { OperationalEvents } from './operational-events';
import { createPostWebhook } from './post-webhook';
import { createRecordOutcome } from './record-outcome';
import { createRequestCancellation } from './request-cancellation';

export interface ActivityDeps {
  readonly deliveries: DeliveryRecords;
  readonly http: Dispatcher;
  readonly logger: Logger;
  readonly targets: TargetPolicy;
  /** A client of the worker's Temporal connection, for a workflow's request to cancel itself. */
  readonly client: Client;
  /** Where attempts and delivery outcomes are counted. @default none */
  readonly metrics?: DeliveryMetrics;
  /** Told of failed attempts, to disable a subscription whose failures call for it. @default none */
  readonly health?: SubscriptionHealthGuard;
  /** Told of deliveries that ended failed, for the operational event. @default none */
  readonly operationalEvents?: OperationalEvents;
}

/** The activities the worker registers, wired to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    postWebhook: createPostWebhook(deps),
    recordOutcome: createRecordOutcome(deps),
    requestCancellation: createRequestCancellation(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { NotSentDetails, PostWebhookInput, PostWebhookResult, RetryDetails } from './post-webhook';
export type { RecordOutcomeInput } from './record-outcome';
