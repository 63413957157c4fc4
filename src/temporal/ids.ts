/**
 * The id scheme of delivery workflows: one per (event, subscription), derived from both ids, so
 * starting the same delivery twice is rejected by Temporal instead of delivering twice.
 * Event and subscription ids never contain '/', so the id is unambiguous.
 */
export function deliveryWorkflowId(eventId: string, subscriptionId: string | null): string {
  return `delivery/${eventId}/${subscriptionId ?? 'callback'}`;
}

/** Link to a workflow in the Temporal UI. */
export function temporalUiUrl(uiBaseUrl: string, namespace: string, workflowId: string): string {
  return `${uiBaseUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
