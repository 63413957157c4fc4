import { type WorkflowIdReusePolicy, type TypedSearchAttributes } from '@temporalio/common';
import type { WorkflowStartOptions } from '@temporalio/client';
import type { DeliveryPlan } from '../../core/model';
import type { deliveryWorkflow } from '../../workflows';
import type { DeliveryWorkflowInput } from '../../workflows/messages';
import { deliveryWorkflowId } from '../../core/ids';
import { ACCOUNT_ID, DELIVERY_STATUS, EVENT_ID, EVENT_TYPE, SUBSCRIPTION_ID } from '../../core/search-attributes';

type DeliverySearchAttributes = NonNullable<WorkflowStartOptions<typeof deliveryWorkflow>['typedSearchAttributes']>;

/** `order.created → api.example.com`: what the Temporal UI shows beside the workflow id. */
export function deliverySummary(plan: Pick<DeliveryPlan, 'eventType' | 'url'>): string {
  let host: string;
  try {
    host = new URL(plan.url).host;
  } catch {
    host = 'invalid URL';
  }
  return `${plan.eventType} → ${host}`;
}

function searchAttributes(plan: DeliveryPlan): DeliverySearchAttributes {
  const pairs: Exclude<DeliverySearchAttributes, TypedSearchAttributes> = [
    { key: EVENT_TYPE, value: plan.eventType },
    { key: EVENT_ID, value: plan.eventId },
    { key: DELIVERY_STATUS, value: 'pending' },
  ];
  if (plan.subscriptionId !== null) pairs.push({ key: SUBSCRIPTION_ID, value: plan.subscriptionId });
  if (plan.accountId !== null) pairs.push({ key: ACCOUNT_ID, value: plan.accountId });
  return pairs;
}

/**
 * How a delivery workflow is started: deterministic id, search attributes, summary. The input
 * carries ids and settings only; the payload and the secret stay in the store.
 */
export function deliveryStartOptions(
  plan: DeliveryPlan,
  settings: { taskQueue: string; attemptTimeoutMs: number },
  reusePolicy: WorkflowIdReusePolicy,
): WorkflowStartOptions<typeof deliveryWorkflow> {
  const input: DeliveryWorkflowInput = {
    deliveryId: plan.deliveryId,
    eventId: plan.eventId,
    subscriptionId: plan.subscriptionId,
    retryPolicy: plan.retryPolicy,
    attemptTimeoutMs: settings.attemptTimeoutMs,
  };
  return {
    workflowId: deliveryWorkflowId(plan.eventId, plan.subscriptionId),
    taskQueue: settings.taskQueue,
    args: [input],
    workflowIdReusePolicy: reusePolicy,
    typedSearchAttributes: searchAttributes(plan),
    staticSummary: deliverySummary(plan),
  };
}
