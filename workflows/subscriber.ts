import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  ParentClosePolicy,
  proxyLocalActivities,
  setHandler,
  sleep,
  startChild,
  WorkflowIdReusePolicy,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  deliveryDetails,
  deliverySearchAttributes,
  deliverySummary,
  type DeliveryLabel,
} from '../core/delivery-display';
import { deliveryWorkflowId } from '../core/workflow-ids';
import { fairnessKeyOf } from '../core/fairness';
import { deliveryWorkflow } from './delivery';
import {
  attemptInput,
  endsAsCancelled,
  firstAttemptActivity,
  firstAttemptOutcome,
  type FirstAttemptOutcome,
} from './first-attempt';
import { DELIVERY_WORKFLOW_REVISION } from './messages';
import {
  cancelQueuedUpdate,
  enqueueUpdate,
  SUBSCRIBER_LIMITS,
  SUBSCRIBER_REFUSALS,
  subscriberStatusQuery,
  type QueuedDelivery,
  type SubscriberWorkflowInput,
} from './subscriber-messages';

const { recordOutcome } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** How a first attempt made here ended for its delivery. */
type Handled = 'delivered' | 'cancelled' | 'handed-on';

function labelOf(subscriptionId: string, delivery: QueuedDelivery): DeliveryLabel {
  return { ...delivery, subscriptionId };
}

/**
 * Hands a delivery whose first attempt failed to its own delivery workflow (same id scheme,
 * retry policy and window as in the default mode), with that attempt's outcome, so it is not
 * posted twice. The child outlives this workflow (ABANDON). A delivery workflow that exists
 * already (the same attempt run again after a lost workflow task) has it.
 */
async function handOn(
  input: SubscriberWorkflowInput,
  delivery: QueuedDelivery,
  outcome: FirstAttemptOutcome,
  windowStartedAt: number,
): Promise<void> {
  const label = labelOf(input.subscriptionId, delivery);
  try {
    await startChild(deliveryWorkflow, {
      workflowId: deliveryWorkflowId(delivery.eventId, input.subscriptionId),
      args: [
        {
          deliveryId: delivery.deliveryId,
          eventId: delivery.eventId,
          subscriptionId: input.subscriptionId,
          retryPolicy: delivery.retryPolicy,
          attemptTimeoutMs: input.attemptTimeoutMs,
          revision: DELIVERY_WORKFLOW_REVISION,
          windowStartedAt,
          firstAttempt: outcome,
        },
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: deliverySearchAttributes(label),
      staticSummary: deliverySummary(label),
      staticDetails: deliveryDetails(label),
      // Keyed by its event's account, as the dispatcher keys delivery workflows, when this workflow is keyed at all.
      ...(workflowInfo().priority?.fairnessKey ? { priority: { fairnessKey: fairnessKeyOf(delivery.accountId) } } : {}),
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}

/**
 * Throughput mode: one long-lived workflow per subscription makes the first attempt of each
 * delivery handed to it (enqueue update, ids only), as concurrent local activities. A delivery
 * answered 2xx is done (its attempt recorded it); any other first outcome is handed on to the
 * delivery's own workflow, which retries it under its policy as in the default mode. Holds at
 * most SUBSCRIBER_LIMITS.outstanding deliveries; continues as new with its queue, only once every
 * attempt in flight has finished and been committed in a workflow task of its own (a task refused
 * at continue-as-new would otherwise lose their results and post them again); ends when idle.
 */
export async function subscriberWorkflow(input: SubscriberWorkflowInput): Promise<number> {
  const queue: QueuedDelivery[] = [...(input.queued ?? [])];
  /** Ids queued or being attempted: an enqueue of one of them again is accepted and ignored. */
  const held = new Set(queue.map((delivery) => delivery.deliveryId));
  const attempting = new Map<string, CancellationScope>();
  /** Attempts an operator cancelled, and those of them that ended cancelled. */
  const cancelRequested = new Set<string>();
  const cancelledByOperator = new Set<string>();
  let handled = input.handledBefore ?? 0;
  /** Refuse new deliveries: the run is about to continue as new or end. */
  let closing = false;

  const settings = (delivery: QueuedDelivery) => ({
    retryPolicy: delivery.retryPolicy,
    attemptTimeoutMs: input.attemptTimeoutMs,
  });

  async function attempt(delivery: QueuedDelivery): Promise<Handled> {
    const scope = new CancellationScope();
    attempting.set(delivery.deliveryId, scope);
    const windowStartedAt = Date.now();
    const windowEndsAt = windowStartedAt + delivery.retryPolicy.maxDurationMs;
    try {
      await scope.run(() =>
        firstAttemptActivity(
          settings(delivery),
          windowEndsAt - windowStartedAt,
        )(attemptInput(delivery.deliveryId, settings(delivery), 0)),
      );
      return 'delivered';
    } catch (error) {
      // Aborted by an operator's cancel (of the delivery, or of this whole workflow from the
      // Temporal UI): however the attempt ended short of a 2xx, the delivery ends cancelled.
      if (cancelRequested.has(delivery.deliveryId) || isCancellation(error)) {
        await CancellationScope.nonCancellable(() =>
          recordOutcome({ deliveryId: delivery.deliveryId, status: 'cancelled' }),
        );
        cancelledByOperator.add(delivery.deliveryId);
        return 'cancelled';
      }
      const outcome = firstAttemptOutcome(error, delivery.retryPolicy, windowEndsAt);
      // Decided: carried out even if the workflow is cancelled meanwhile.
      return CancellationScope.nonCancellable(async () => {
        if (endsAsCancelled(outcome)) {
          await recordOutcome({ deliveryId: delivery.deliveryId, status: 'cancelled' });
          return 'cancelled';
        }
        await handOn(input, delivery, outcome, windowStartedAt);
        return 'handed-on';
      });
    } finally {
      attempting.delete(delivery.deliveryId);
      cancelRequested.delete(delivery.deliveryId);
      held.delete(delivery.deliveryId);
      handled += 1;
    }
  }

  setHandler(subscriberStatusQuery, () => ({
    subscriptionId: input.subscriptionId,
    queued: queue.length,
    attempting: attempting.size,
    handled,
  }));
  setHandler(
    enqueueUpdate,
    (deliveries) => {
      let accepted = 0;
      for (const delivery of deliveries) {
        if (!held.has(delivery.deliveryId)) {
          if (held.size >= SUBSCRIBER_LIMITS.outstanding) break;
          queue.push(delivery);
          held.add(delivery.deliveryId);
        }
        accepted += 1;
      }
      return { accepted, outstanding: held.size };
    },
    {
      validator: (deliveries) => {
        if (closing) throw ApplicationFailure.nonRetryable('the run is closing', SUBSCRIBER_REFUSALS.closing);
        const first = deliveries[0];
        if (held.size >= SUBSCRIBER_LIMITS.outstanding && first !== undefined && !held.has(first.deliveryId)) {
          throw ApplicationFailure.nonRetryable(
            `holding ${held.size} deliveries, the most it takes`,
            SUBSCRIBER_REFUSALS.full,
          );
        }
      },
    },
  );
  setHandler(cancelQueuedUpdate, async (deliveryId) => {
    const index = queue.findIndex((delivery) => delivery.deliveryId === deliveryId);
    if (index >= 0) {
      queue.splice(index, 1);
      held.delete(deliveryId);
      handled += 1;
      await recordOutcome({ deliveryId, status: 'cancelled' });
      return 'cancelled';
    }
    const scope = attempting.get(deliveryId);
    if (scope === undefined) return 'not-held';
    cancelRequested.add(deliveryId);
    scope.cancel();
    await condition(() => !attempting.has(deliveryId));
    return cancelledByOperator.delete(deliveryId) ? 'cancelled' : 'not-held';
  });

  const shouldContinueAsNew = (): boolean =>
    workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= SUBSCRIBER_LIMITS.historyEvents;
  const canAttempt = (): boolean => queue.length > 0 && attempting.size < SUBSCRIBER_LIMITS.concurrentAttempts;

  let end: 'idle' | 'continue-as-new';
  try {
    end = await takeDeliveries();
  } catch (error) {
    if (!isCancellation(error)) throw error;
    // Cancelled through Temporal: the attempts in flight were aborted with it and end their
    // deliveries cancelled; the queued ones end cancelled too. None is left pending.
    closing = true;
    await CancellationScope.nonCancellable(async () => {
      for (const delivery of queue.splice(0)) {
        await recordOutcome({ deliveryId: delivery.deliveryId, status: 'cancelled' });
        held.delete(delivery.deliveryId);
        handled += 1;
      }
      await condition(() => attempting.size === 0 && allHandlersFinished());
    });
    throw error;
  }
  if (end === 'idle') return handled;
  return continueAsNew<typeof subscriberWorkflow>({ ...input, queued: queue, handledBefore: handled });

  /**
   * Makes first attempts as deliveries come, until the run has been idle for
   * SUBSCRIBER_LIMITS.idleMs, or should continue as new (once its attempts are committed).
   */
  async function takeDeliveries(): Promise<'idle' | 'continue-as-new'> {
    for (;;) {
      while (canAttempt()) {
        const delivery = queue.shift();
        // Settled inside: an attempt's failure is handed on, never thrown (a bug fails the task).
        if (delivery !== undefined) void attempt(delivery);
      }
      if (shouldContinueAsNew()) break;
      if (queue.length === 0 && attempting.size === 0) {
        if (await condition(() => queue.length > 0, SUBSCRIBER_LIMITS.idleMs)) continue;
        // Idle: end, refusing new deliveries (their sender starts the next run) and finishing the handlers.
        closing = true;
        await condition(allHandlersFinished);
        if (queue.length === 0) return 'idle';
        closing = false;
        continue;
      }
      await condition(() => canAttempt() || (queue.length === 0 && attempting.size === 0) || shouldContinueAsNew());
    }

    closing = true;
    await condition(() => attempting.size === 0 && allHandlersFinished());
    // The finished attempts' results are committed in this task, before the one that continues as
    // new: a continue-as-new refused (new messages arrived) cannot take them with it.
    await sleep(1);
    await condition(allHandlersFinished);
    return 'continue-as-new';
  }
}
