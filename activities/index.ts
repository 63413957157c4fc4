import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { TargetPolicy } from '../core/targets';
import type { DeliveryRecords } from './delivery-records';
import { createPostWebhook } from './post-webhook';
import { createRecordOutcome } from './record-outcome';

export interface ActivityDeps {
  readonly deliveries: DeliveryRecords;
  readonly http: Dispatcher;
  readonly logger: Logger;
  readonly targets: TargetPolicy;
}

/** The activities the worker registers, wired to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    postWebhook: createPostWebhook(deps),
    recordOutcome: createRecordOutcome(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { PostWebhookInput, PostWebhookResult, RetryDetails } from './post-webhook';
export type { RecordOutcomeInput } from './record-outcome';
