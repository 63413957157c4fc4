import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { DeliveryStore } from '../store/deliveries';
import { forEachLimited } from '../util/concurrency';
import { resumeSignal } from '../../workflows/messages';

interface PendingOf {
  readonly client: Client;
  readonly deliveries: Pick<DeliveryStore, 'pendingWorkflowIds'>;
  readonly subscriptionId: string;
  /** A workflow id to leave alone. @default none */
  readonly except?: string;
  /** Stops the loop: no new call is made once it has fired. @default none */
  readonly signal?: AbortSignal;
}

/**
 * Acts on the workflow of each pending delivery of a subscription, 16 at a time. A delivery whose
 * workflow is not started yet (or that is held by a subscriber workflow) has none: it is skipped,
 * and finds the subscription's state at its first attempt.
 */
async function forEachPendingWorkflow(input: PendingOf, act: (handle: WorkflowHandle) => Promise<void>) {
  const workflowIds = (await input.deliveries.pendingWorkflowIds(input.subscriptionId)).filter(
    (workflowId) => workflowId !== input.except,
  );
  await forEachLimited(workflowIds, 16, async (workflowId) => {
    input.signal?.throwIfAborted();
    await act(input.client.workflow.getHandle(workflowId)).catch((error: unknown) => {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    });
  });
}

/**
 * Asks Temporal to cancel the workflows of a subscription's pending deliveries (those of a
 * removed, deactivated or disabled subscription); one not started yet ends cancelled at its first
 * attempt, which finds the subscription gone.
 */
export function cancelPendingDeliveries(input: PendingOf): Promise<void> {
  return forEachPendingWorkflow(input, (handle) => handle.cancel().then(() => undefined));
}

/** Wakes the pending deliveries of a resumed subscription, which waited while it was paused. */
export function resumePendingDeliveries(input: PendingOf): Promise<void> {
  return forEachPendingWorkflow(input, (handle) => handle.signal(resumeSignal));
}
