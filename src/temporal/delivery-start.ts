import type { WorkflowIdReusePolicy } from '@temporalio/common';
import type { WorkflowStartOptions } from '@temporalio/client';
import type { DeliveryPlan } from '../../core/model';
import type { deliveryWorkflow } from '../../workflows';
import { DELIVERY_WORKFLOW_REVISION, type DeliveryWorkflowInput } from '../../workflows/messages';
import { deliveryWorkflowId } from '../../core/workflow-ids';
import { fairnessKeyOf } from '../../core/fairness';
import {
  deliveryDetails,
  deliverySearchAttributes,
  deliverySummary,
  hostOf,
  type DeliveryLabel,
} from '../../core/delivery-display';

/** The plan as the Temporal UI may show it: its URL reduced to the host. */
export function deliveryLabel(plan: DeliveryPlan): DeliveryLabel {
  return {
    eventId: plan.eventId,
    eventType: plan.eventType,
    subscriptionId: plan.subscriptionId,
    accountId: plan.accountId,
    targetHost: hostOf(plan.url),
    retryPolicy: plan.retryPolicy,
  };
}

/** What every workflow start of a delivery needs to know of the service. */
export interface DeliveryStartSettings {
  readonly taskQueue: string;
  readonly attemptTimeoutMs: number;
  /** Key the workflow (and so its activities) by the event's account (WEBHOOKS_FAIRNESS). @default true */
  readonly fairness?: boolean;
}

/** The priority of an account's workflows: its fairness key, when fairness is on. */
export function accountPriority(accountId: string | null, settings: Pick<DeliveryStartSettings, 'fairness'>) {
  return settings.fairness === false ? {} : { priority: { fairnessKey: fairnessKeyOf(accountId) } };
}

/**
 * How a delivery workflow is started: deterministic id, search attributes, summary, and the
 * event's account as its fairness key. The input carries ids and settings only; the payload and
 * the secret stay in the store.
 */
export function deliveryStartOptions(
  plan: DeliveryPlan,
  settings: DeliveryStartSettings,
  reusePolicy: WorkflowIdReusePolicy,
): WorkflowStartOptions<typeof deliveryWorkflow> {
  const input: DeliveryWorkflowInput = {
    deliveryId: plan.deliveryId,
    eventId: plan.eventId,
    subscriptionId: plan.subscriptionId,
    retryPolicy: plan.retryPolicy,
    attemptTimeoutMs: settings.attemptTimeoutMs,
    revision: DELIVERY_WORKFLOW_REVISION,
  };
  const label = deliveryLabel(plan);
  return {
    workflowId: deliveryWorkflowId(plan.eventId, plan.subscriptionId),
    taskQueue: settings.taskQueue,
    args: [input],
    workflowIdReusePolicy: reusePolicy,
    typedSearchAttributes: deliverySearchAttributes(label),
    staticSummary: deliverySummary(label),
    staticDetails: deliveryDetails(label),
    ...accountPriority(plan.accountId, settings),
  };
}
