/**
 * The Temporal ceiling: the least a delivery could cost in Temporal alone. One workflow, one
 * activity that does nothing but tell the benchmark it ran, the same shape as a delivery's first
 * attempt (no local activity, no search attributes, no store).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { CeilingActivities } from './activities';

const { touch } = proxyActivities<CeilingActivities>({ startToCloseTimeout: '30s' });

export async function ceilingWorkflow(key: string): Promise<void> {
  await touch(key);
}
