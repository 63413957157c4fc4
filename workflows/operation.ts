/**
 * A bulk operation (recover or replay) as one workflow, `recover/<op id>` or `replay/<op id>`: it
 * pages through the store one batch (one activity) at a time, from where the last batch stopped,
 * and continues as new every BATCHES_PER_RUN batches, so 100,000 deliveries keep its history
 * short. Its progress is in the `progress` query and in search attributes. Cancelled (the API's
 * cancel, or the Temporal UI's button), it lets the batch in flight finish what it started, ends
 * the operation as cancelled and ends Canceled: what was resent stays resent.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OperationActivities, OperationProgress } from '../activities/operations';
import { OPERATION_DONE, OPERATION_REMAINING } from '../core/search-attributes';
import { operationProgressQuery, type OperationWorkflowInput } from './operation-messages';

/** Batches a run makes before it continues as new: about 700 history events (7 a batch). */
const BATCHES_PER_RUN = 100;

const { runOperationBatch } = proxyActivities<OperationActivities>({
  startToCloseTimeout: '10m',
  // A batch heartbeats every 500 ms: a cancellation reaches it within about 2.4 s (the SDK's
  // heartbeat throttle), and a batch whose worker died is retried after 3 s.
  heartbeatTimeout: '3s',
  // Wait for the batch to count what it did before the operation ends cancelled.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1s', maximumInterval: '1m', maximumAttempts: 10 },
  summary: 'take and act on a batch',
});

const { finishOperation } = proxyActivities<OperationActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
  summary: 'end the operation',
});

export async function operationWorkflow(input: OperationWorkflowInput): Promise<OperationProgress> {
  const { operationId } = input;
  let progress = input.progress;
  setHandler(operationProgressQuery, () => progress);
  try {
    if ((await runBatches(operationId, report)) === 'continue') {
      return await continueAsNew<typeof operationWorkflow>({ ...input, progress });
    }
    report(await finishOperation({ operationId, status: 'completed' }));
    return progress;
  } catch (error) {
    if (!isCancellation(error) && !(error instanceof ActivityFailure)) throw error;
    const status = isCancellation(error) ? 'cancelled' : 'failed';
    // Recorded whatever the cancellation: the operation's row must say how it ended.
    report(await CancellationScope.nonCancellable(() => finishOperation({ operationId, status })));
    throw error;
  }

  function report(next: OperationProgress): void {
    progress = next;
    upsertSearchAttributes([
      { key: OPERATION_DONE, value: next.done },
      { key: OPERATION_REMAINING, value: next.remaining },
    ]);
  }
}

/** Runs batches until the operation has nothing left, or this run has made its share. */
async function runBatches(
  operationId: string,
  report: (progress: OperationProgress) => void,
): Promise<'finished' | 'continue'> {
  for (let batches = 1; ; batches += 1) {
    const { progress, finished } = await runOperationBatch(operationId);
    report(progress);
    if (finished) return 'finished';
    if (batches >= BATCHES_PER_RUN || workflowInfo().continueAsNewSuggested) return 'continue';
  }
}
