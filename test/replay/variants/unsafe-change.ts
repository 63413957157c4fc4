/**
 * The delivery workflow with a change made the unsafe way: a timer before the first attempt,
 * added unconditionally. Histories recorded without it no longer match; the replay test proves it
 * notices.
 */
import { sleep } from '@temporalio/workflow';
import { deliveryWorkflow as current } from '../../../workflows/delivery';
import type { DeliveryState, DeliveryWorkflowInput } from '../../../workflows/messages';

export async function deliveryWorkflow(input: DeliveryWorkflowInput): Promise<DeliveryState> {
  await sleep('1s');
  return current(input);
}
