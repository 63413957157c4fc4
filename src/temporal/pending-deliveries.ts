import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { DeliveryStore } from '../store/deliveries';
import { forEachLimited } from '../util/concurrency';

/**
 * Asks Temporal to cancel the workflows of a subscription's pending deliveries (those of a
 * removed, deactivated or disabled subscription), 16 at a time, but for `except`. A delivery not
 * started yet has nothing to cancel: its first attempt finds the subscription gone and ends it
 * cancelled. `signal` stops the loop (no new call is made once it has fired).
 */
export async function cancelPendingDeliveries(input: {
  readonly client: Client;
  readonly deliveries: Pick<DeliveryStore, 'pendingWorkflowIds'>;
  readonly subscriptionId: string;
  readonly except?: string;
  readonly signal?: AbortSignal;
}): Promise<void> {
  const workflowIds = (await input.deliveries.pendingWorkflowIds(input.subscriptionId)).filter(
    (workflowId) => workflowId !== input.except,
  );
  await forEachLimited(workflowIds, 16, async (workflowId) => {
    input.signal?.throwIfAborted();
    await input.client.workflow
      .getHandle(workflowId)
      .cancel()
      .catch((error: unknown) => {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      });
  });
}
