/**
 * Throughput mode: the subscriber workflow run that delivered a delivery on its first attempt,
 * which the API reports (workflowId, temporalUiUrl) while the delivery has no workflow of its
 * own. NULL for every other delivery; cleared when a resend gives it a delivery workflow.
 */
export const sql = `
ALTER TABLE deliveries ADD COLUMN fast_path_workflow_id text;
ALTER TABLE deliveries ADD COLUMN fast_path_run_id text;
`;
