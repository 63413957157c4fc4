import { type WorkflowIdReusePolicy, type TypedSearchAttributes } from '@temporalio/common';
import type { WorkflowStartOptions } from '@temporalio/client';
import type { DeliveryPlan } from '../../core/model';
import type { deliveryWorkflow } from '../../workflows';
import { DELIVERY_WORKFLOW_REVISION, type DeliveryWorkflowInput } from '../../workflows/messages';
import { deliveryWorkflowId } from '../../core/ids';
import { formatDuration } from '../../core/duration';
import { ACCOUNT_ID, EVENT_ID, EVENT_TYPE, SUBSCRIPTION_ID } from '../../core/search-attributes';

type DeliverySearchAttributes = NonNullable<WorkflowStartOptions<typeof deliveryWorkflow>['typedSearchAttributes']>;

/** `order.created → api.example.com`: what the Temporal UI shows beside the workflow id. */
export function deliverySummary(plan: Pick<DeliveryPlan, 'eventType' | 'url'>): string {
  return `${plan.eventType} → ${hostOf(plan.url)}`;
}

/** The target's host only: a URL's path and query may carry a receiver's token. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid URL';
  }
}

/** The retry policy in a line: `10s, ×2, at most 1h apart, for 48h, no attempt cap`. */
export function describeRetryPolicy(policy: DeliveryPlan['retryPolicy']): string {
  const growth = policy.backoffCoefficient === 1 ? 'fixed' : `×${policy.backoffCoefficient}`;
  const cap = policy.maximumAttempts === null ? 'no attempt cap' : `at most ${policy.maximumAttempts} attempts`;
  return `${formatDuration(policy.initialIntervalMs)}, ${growth}, at most ${formatDuration(policy.maximumIntervalMs)} apart, for ${formatDuration(policy.maxDurationMs)}, ${cap}`;
}

/**
 * What the Temporal UI shows in a delivery's header, under its summary (Markdown): ids, target
 * host and retry policy. Never the payload, a secret, or the URL's path.
 */
export function deliveryDetails(plan: DeliveryPlan): string {
  return [
    `**Event** \`${plan.eventType}\` \`${plan.eventId}\``,
    `**Subscription** ${plan.subscriptionId === null ? "the event's callbackUrl" : `\`${plan.subscriptionId}\``}`,
    `**Account** ${plan.accountId === null ? 'none (vendor level)' : `\`${plan.accountId}\``}`,
    `**Target** ${hostOf(plan.url)}`,
    `**Retry policy** ${describeRetryPolicy(plan.retryPolicy)}`,
  ].join('  \n');
}

function searchAttributes(plan: DeliveryPlan): DeliverySearchAttributes {
  const pairs: Exclude<DeliverySearchAttributes, TypedSearchAttributes> = [
    { key: EVENT_TYPE, value: plan.eventType },
    { key: EVENT_ID, value: plan.eventId },
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
    revision: DELIVERY_WORKFLOW_REVISION,
  };
  return {
    workflowId: deliveryWorkflowId(plan.eventId, plan.subscriptionId),
    taskQueue: settings.taskQueue,
    args: [input],
    workflowIdReusePolicy: reusePolicy,
    typedSearchAttributes: searchAttributes(plan),
    staticSummary: deliverySummary(plan),
    staticDetails: deliveryDetails(plan),
  };
}
