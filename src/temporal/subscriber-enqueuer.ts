import { setTimeout as delay } from 'node:timers/promises';
import { ApplicationFailure, WorkflowIdConflictPolicy } from '@temporalio/common';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { DeliveryPlan } from '../../core/model';
import { SUBSCRIPTION_ID } from '../../core/search-attributes';
import { subscriberWorkflowId } from '../../core/workflow-ids';
import { subscriberWorkflow } from '../../workflows';
import {
  enqueueUpdate,
  SUBSCRIBER_REFUSALS,
  type EnqueueResult,
  type QueuedDelivery,
} from '../../workflows/subscriber-messages';
import { accountPriority, deliveryLabel } from './delivery-start';
import type { StartGate } from './start-gate';

export interface SubscriberEnqueuerOptions {
  readonly client: Client;
  readonly taskQueue: string;
  /** Deadline of one webhook attempt, ms. */
  readonly attemptTimeoutMs: number;
  /** The bound on calls to Temporal in flight, shared with the dispatcher's workflow starts. */
  readonly gate: StartGate;
  /** Key each subscriber workflow by the account of the delivery that starts it (WEBHOOKS_FAIRNESS). @default true */
  readonly fairness?: boolean;
}

/** Deliveries sent to one subscriber workflow in one update at most. */
const BATCH = 100;
/** A full subscriber workflow is asked again after this pause, doubling up to FULL_PAUSE_MAX_MS. */
const FULL_PAUSE_MS = 50;
const FULL_PAUSE_MAX_MS = 1_000;
/** Deliveries wait this long at most for room in a full subscriber workflow before their events go back to the outbox, ms. */
const FULL_WAIT_MAX_MS = 5_000;
/** A run that is closing (continuing as new, or ending idle) is asked again after this pause, ms. */
const CLOSING_PAUSE_MS = 20;

/** A subscriber workflow that stayed full: the event goes back to the outbox, to be dispatched later. */
export class SubscriberBusyError extends Error {
  constructor(subscriptionId: string) {
    super(`the subscriber workflow of ${subscriptionId} stayed full`);
  }
}

interface Waiting {
  readonly delivery: QueuedDelivery;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** One subscription's deliveries waiting to be handed over, and whether an update is being sent. */
interface Lane {
  readonly waiting: Waiting[];
  sending: boolean;
}

/** The plan as a subscriber workflow holds it: its UI label, less the subscription (the workflow's own). */
function queuedDelivery(plan: DeliveryPlan): QueuedDelivery {
  const { subscriptionId: _subscriptionId, ...label } = deliveryLabel(plan);
  return { deliveryId: plan.deliveryId, ...label };
}

function refusalOf(error: unknown): string | undefined {
  if (!(error instanceof WorkflowUpdateFailedError)) return undefined;
  return error.cause instanceof ApplicationFailure ? (error.cause.type ?? undefined) : undefined;
}

/**
 * Throughput mode: hands deliveries to their subscription's subscriber workflow, starting it if
 * it is not running (update-with-start). Deliveries for one subscription that arrive while an
 * update is on its way go together in the next one, so a burst costs a few updates, not one per
 * delivery. A full workflow (SUBSCRIBER_LIMITS.outstanding) is asked again after a growing pause;
 * after FULL_WAIT_MAX_MS the waiting deliveries are refused and their events go back to the
 * outbox, which the relay dispatches oldest first.
 */
export class SubscriberEnqueuer {
  private readonly lanes = new Map<string, Lane>();
  private waitingCount = 0;

  constructor(private readonly options: SubscriberEnqueuerOptions) {}

  /** Deliveries waiting in this process to be handed to their subscriber workflow. */
  get waiting(): number {
    return this.waitingCount;
  }

  /** Resolves once the subscriber workflow of the plan's subscription holds the delivery. */
  enqueue(plan: DeliveryPlan & { readonly subscriptionId: string }): Promise<void> {
    const { subscriptionId } = plan;
    let lane = this.lanes.get(subscriptionId);
    if (lane === undefined) {
      lane = { waiting: [], sending: false };
      this.lanes.set(subscriptionId, lane);
    }
    const entered = lane;
    return new Promise<void>((resolve, reject) => {
      entered.waiting.push({ delivery: queuedDelivery(plan), resolve, reject });
      this.waitingCount += 1;
      if (!entered.sending) void this.drain(subscriptionId, entered);
    });
  }

  /** Sends the lane's deliveries, batch after batch, until none waits. Settles every promise it takes. */
  private async drain(subscriptionId: string, lane: Lane): Promise<void> {
    lane.sending = true;
    let pause = FULL_PAUSE_MS;
    let fullSince: number | undefined;
    try {
      while (lane.waiting.length > 0) {
        const batch = lane.waiting.slice(0, BATCH);
        try {
          const result = await this.options.gate.run(() =>
            this.send(
              subscriberWorkflowId(subscriptionId),
              subscriptionId,
              batch.map((entry) => entry.delivery),
            ),
          );
          this.settle(lane, result.accepted, (entry) => entry.resolve());
          if (result.accepted < batch.length) throw new RoomRanOut();
          pause = FULL_PAUSE_MS;
          fullSince = undefined;
        } catch (error) {
          const refusal = error instanceof RoomRanOut ? SUBSCRIBER_REFUSALS.full : refusalOf(error);
          if (refusal === SUBSCRIBER_REFUSALS.closing) {
            await delay(CLOSING_PAUSE_MS);
          } else if (refusal === SUBSCRIBER_REFUSALS.full) {
            fullSince ??= Date.now();
            if (Date.now() - fullSince > FULL_WAIT_MAX_MS) {
              const busy = new SubscriberBusyError(subscriptionId);
              this.settle(lane, lane.waiting.length, (entry) => entry.reject(busy));
            } else {
              await delay(pause);
              pause = Math.min(FULL_PAUSE_MAX_MS, pause * 2);
            }
          } else {
            this.settle(lane, batch.length, (entry) => entry.reject(error));
          }
        }
      }
    } finally {
      lane.sending = false;
      if (lane.waiting.length === 0) this.lanes.delete(subscriptionId);
      else void this.drain(subscriptionId, lane);
    }
  }

  /** Takes the first `count` waiting deliveries off the lane and settles each. */
  private settle(lane: Lane, count: number, how: (entry: Waiting) => void): void {
    const taken = lane.waiting.splice(0, count);
    this.waitingCount -= taken.length;
    taken.forEach(how);
  }

  private send(workflowId: string, subscriptionId: string, deliveries: QueuedDelivery[]): Promise<EnqueueResult> {
    const startWorkflowOperation = new WithStartWorkflowOperation(subscriberWorkflow, {
      workflowId,
      taskQueue: this.options.taskQueue,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      args: [{ subscriptionId, attemptTimeoutMs: this.options.attemptTimeoutMs }],
      typedSearchAttributes: [{ key: SUBSCRIPTION_ID, value: subscriptionId }],
      staticSummary: `first attempts for ${subscriptionId}`,
      // An account's subscription takes only its own account's events: its key is theirs.
      ...accountPriority(deliveries[0]?.accountId ?? null, this.options),
    });
    return this.options.client.workflow.executeUpdateWithStart(enqueueUpdate, {
      args: [deliveries],
      startWorkflowOperation,
    });
  }
}

/** The workflow took only part of a batch: it is full. */
class RoomRanOut extends Error {}
