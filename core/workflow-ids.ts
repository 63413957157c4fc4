/**
 * The id schemes of the workflows, derived from the store's ids so that starting the same work
 * twice is rejected (or joined) by Temporal instead of done twice. Event and subscription ids
 * never contain '/', so the ids are unambiguous. Workflow-safe.
 */

/** One delivery workflow per (event, subscription). */
export function deliveryWorkflowId(eventId: string, subscriptionId: string | null): string {
  return `delivery/${eventId}/${subscriptionId ?? 'callback'}`;
}

/** One subscriber workflow per subscription (throughput mode), started on demand, ended when idle. */
export function subscriberWorkflowId(subscriptionId: string): string {
  return `subscriber/${subscriptionId}`;
}

/** The type name of the subscriber workflow: an activity tells by it that it runs on the fast path. */
export const SUBSCRIBER_WORKFLOW_TYPE = 'subscriberWorkflow';

/** One workflow per bulk operation: `recover/<op id>` or `replay/<op id>`. */
export function operationWorkflowId(kind: 'recover' | 'replay', operationId: string): string {
  return `${kind}/${operationId}`;
}
