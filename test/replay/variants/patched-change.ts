/**
 * The same change made the safe way, as docs/reliability.md describes: behind `patched()`, so
 * deliveries already in flight replay their old path and new ones take the new path.
 */
import { patched, sleep } from '@temporalio/workflow';
import { deliveryWorkflow as current } from '../../../workflows/delivery';
import type { DeliveryState, DeliveryWorkflowInput } from '../../../workflows/messages';

export async function deliveryWorkflow(input: DeliveryWorkflowInput): Promise<DeliveryState> {
  if (patched('pause-before-first-attempt')) await sleep('1s');
  return current(input);
}
