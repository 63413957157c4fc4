import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';

/**
 * Asks Temporal to cancel the workflow run that called it. A delivery stopped by the cancel
 * signal or update, or by its subscription's removal, ends as Canceled only through such a
 * request: a workflow cannot request its own cancellation, and one that throws a cancellation
 * without a request ends Failed.
 */
export function createRequestCancellation(deps: { client: Client }) {
  return async function requestCancellation(): Promise<void> {
    const run = Context.current().info.workflowExecution;
    if (!run) throw new Error('requestCancellation runs for a workflow only');
    await deps.client.workflow.getHandle(run.workflowId, run.runId).cancel();
  };
}
