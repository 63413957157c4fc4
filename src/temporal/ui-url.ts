/** Link to a workflow in the Temporal UI: its latest run, or the given run. */
export function temporalUiUrl(uiBaseUrl: string, namespace: string, workflowId: string, runId?: string): string {
  const workflow = `${uiBaseUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId === undefined ? workflow : `${workflow}/${encodeURIComponent(runId)}/history`;
}
