import { WorkflowIdReusePolicy, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import { WorkflowFailedError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Delivery } from '../../core/model';
import { ConflictError, NotFoundError, UnavailableError } from '../errors';
import type { Store } from '../store';
import { deliveryWorkflow } from '../../workflows';
import {
  cancelSignal,
  cancelUpdate,
  resendSignal,
  resendUpdate,
  statusQuery,
  type DeliveryState,
} from '../../workflows/messages';
import { cancelQueuedUpdate, type CancelQueuedResult } from '../../workflows/subscriber-messages';
import { subscriberWorkflowId } from '../../core/workflow-ids';
import { deliveryStartOptions, type DeliveryStartSettings } from './delivery-start';
import { cancelPendingDeliveries, resumePendingDeliveries } from './pending-deliveries';
import { DELIVERY_STATUS_OF_CLOSED_RUN } from './run-status';

export interface DeliveryControlOptions extends DeliveryStartSettings {
  readonly client: Client;
  readonly store: Store;
  readonly logger: Logger;
  /** How long cancel waits for the workflow to finish before answering, ms. @default 10000 */
  readonly settleTimeoutMs?: number;
  /**
   * How long cancel and resend wait for a worker to answer their update, ms. Without an answer
   * they fall back to the signal of the same name, which Temporal keeps until a worker runs the
   * workflow (the decision is then the workflow's, but the caller cannot hear it). @default 3000
   */
  readonly updateTimeoutMs?: number;
}

/**
 * Operator actions on deliveries. The workflow decides: cancel and resend are Workflow Updates
 * whose validators refuse them once the delivery has ended, and the API answers with that
 * decision. The store's row is the workflow's to write, except that a new run of a finished
 * delivery is marked pending before it starts.
 */
export class DeliveryControl {
  private readonly settleTimeoutMs: number;
  private readonly updateTimeoutMs: number;
  /** Aborted on stop: a call still retrying when the connection closes would throw from a timer. */
  private readonly stopping = new AbortController();
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly options: DeliveryControlOptions) {
    this.settleTimeoutMs = options.settleTimeoutMs ?? 10_000;
    this.updateTimeoutMs = options.updateTimeoutMs ?? 3_000;
  }

  private async startOptions(delivery: Delivery, reusePolicy: WorkflowIdReusePolicy) {
    const plan = await this.options.store.deliveries.plan(delivery.id);
    if (!plan) throw new NotFoundError('delivery', delivery.id);
    return deliveryStartOptions(plan, this.options, reusePolicy);
  }

  /**
   * Stops a pending delivery (an attempt in flight is aborted) and waits, bounded, until its
   * workflow has ended it. Cancelling a cancelled delivery is accepted again; a succeeded or
   * failed one is a conflict. A delivery whose workflow is not started yet (still in the outbox)
   * is started only to end as cancelled, so no later dispatch can deliver it.
   */
  async cancel(delivery: Delivery): Promise<void> {
    // Delivered on its first attempt by a subscriber workflow: no workflow of its own to ask.
    if (delivery.fastPathRun !== null && delivery.status !== 'pending') throw refused(undefined, delivery.status);
    if (delivery.subscriptionId !== null && delivery.status === 'pending' && delivery.attemptCount === 0) {
      if ((await this.cancelQueued(delivery, delivery.subscriptionId)) === 'cancelled') return;
      const now = await this.options.store.deliveries.get(delivery.id);
      if (now !== undefined && now.status !== 'pending') {
        if (now.status === 'cancelled') return;
        throw refused(undefined, now.status);
      }
    }
    const handle = this.options.client.workflow.getHandle(delivery.workflowId);
    try {
      if ((await this.update(() => handle.executeUpdate(cancelUpdate))) === 'unanswered') {
        // No worker to decide now: the signal waits for one, and the workflow ends cancelled then.
        if (await this.signal(handle, cancelSignal, () => this.startToCancel(delivery))) return;
        const closed = await this.closedStatus(handle);
        if (closed === undefined || closed === 'cancelled') return;
        throw refused(undefined, closed);
      }
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) {
        const ended = await this.endedStatus(handle);
        if (ended === 'cancelled') return;
        throw refused(error, ended);
      }
      if (!(error instanceof WorkflowNotFoundError)) throw toUnavailable(error);
      const closed = await this.closedStatus(handle);
      if (closed === 'cancelled') return;
      if (closed !== undefined) throw refused(undefined, closed);
      await this.startToCancel(delivery);
    }
    await this.settle(handle);
  }

  /**
   * Throughput mode: removes a delivery its subscriber workflow holds (queued, or its first
   * attempt in flight), which then ends it cancelled. 'not-held' when no subscriber workflow holds
   * it (none runs, it was handed on or ended, or none answered in updateTimeoutMs).
   */
  private async cancelQueued(delivery: Delivery, subscriptionId: string): Promise<CancelQueuedResult> {
    const handle = this.options.client.workflow.getHandle(subscriberWorkflowId(subscriptionId));
    try {
      const answer = await this.update(() => handle.executeUpdate(cancelQueuedUpdate, { args: [delivery.id] }));
      return answer === 'unanswered' ? 'not-held' : answer.result;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return 'not-held';
      throw toUnavailable(error);
    }
  }

  /**
   * A new attempt now. Pending: the workflow skips its remaining backoff. Ended: a new run of the
   * same workflow id delivers again with a fresh retry window, once the ended run has closed (so
   * every write of the old run comes before the new run's).
   */
  async resend(delivery: Delivery): Promise<void> {
    const handle = this.options.client.workflow.getHandle(delivery.workflowId);
    try {
      if ((await this.update(() => handle.executeUpdate(resendUpdate))) === 'unanswered') {
        // No worker to decide now: the signal waits for one (a closed run falls through below).
        if (await this.signal(handle, resendSignal, async () => undefined)) return;
      } else {
        return;
      }
    } catch (error) {
      if (!(error instanceof WorkflowUpdateFailedError) && !(error instanceof WorkflowNotFoundError)) {
        throw toUnavailable(error);
      }
    }
    await this.settleOrRefuse(delivery, handle);
    // Pending before the new run starts, so the run's own outcome is the last write.
    await this.options.store.deliveries.setStatus(delivery.id, 'pending');
    await this.startNewRun(delivery);
  }

  /**
   * A resend of an ended delivery (a recover's), only if it is still ended with `attemptCount`
   * attempts: marking it pending is a claim in one write, so two callers that saw it so resend it
   * once, and one that comes after a resend's new run leaves it alone. Its last run has written
   * its outcome already; the new one starts once that run has closed (a 409 meanwhile leaves it
   * pending, for the caller's retry to start).
   */
  async resendIfUnchanged(delivery: Delivery, attemptCount: number): Promise<void> {
    if (!(await this.options.store.deliveries.reopen(delivery.id, attemptCount))) return;
    await this.settleOrRefuse(delivery, this.options.client.workflow.getHandle(delivery.workflowId));
    await this.startNewRun(delivery);
  }

  /** Waits for the delivery's last run to close; refuses (409) while it is still ending. */
  private async settleOrRefuse(delivery: Delivery, handle: WorkflowHandle): Promise<void> {
    if (!(await this.settle(handle))) {
      throw new ConflictError(`delivery '${delivery.id}' is still ending; resend it again in a moment`, [
        { path: 'status', message: 'is ending' },
      ]);
    }
  }

  /**
   * Starts a new run of a delivery marked pending for it. A start that fails leaves it pending:
   * the call may have failed after Temporal started the run (a deadline under load), and a run
   * that delivers must find it pending. Retried, the resend finds it pending and starts the run
   * if there is none (the reconciler leaves a row marked pending after its run closed alone).
   */
  private async startNewRun(delivery: Delivery): Promise<void> {
    const options = await this.startOptions(delivery, WorkflowIdReusePolicy.ALLOW_DUPLICATE);
    try {
      await this.options.client.workflow.start(deliveryWorkflow, options);
    } catch (error) {
      // Another resend started the new run first: this one is answered by it.
      if (error instanceof WorkflowExecutionAlreadyStartedError) return;
      throw toUnavailable(error);
    }
  }

  /** Cancels every pending delivery of a subscription, in the background. */
  cancelPendingOf(subscriptionId: string): void {
    const run = (): Promise<void> =>
      cancelPendingDeliveries({
        client: this.options.client,
        deliveries: this.options.store.deliveries,
        subscriptionId,
        // Once stopping, a new call would not see the signal fire: make none.
        signal: this.stopping.signal,
      });
    void this.tracked(
      this.options.client
        .withAbortSignal(this.stopping.signal, run)
        .catch((error: unknown) =>
          this.options.logger.warn({ subscriptionId, err: error }, 'cancelling pending deliveries failed'),
        ),
    );
  }

  /** Wakes the pending deliveries of a resumed subscription, in the background. */
  resumePendingOf(subscriptionId: string): void {
    void this.tracked(
      this.options.client
        .withAbortSignal(this.stopping.signal, () =>
          resumePendingDeliveries({
            client: this.options.client,
            deliveries: this.options.store.deliveries,
            subscriptionId,
            signal: this.stopping.signal,
          }),
        )
        .catch((error: unknown) =>
          this.options.logger.warn({ subscriptionId, err: error }, 'resuming pending deliveries failed'),
        ),
    );
  }

  /**
   * Ends what runs past an answer (cancel's wait, the cancel of a removed subscription's
   * deliveries; their own attempts finish the job) and waits for it.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.background);
  }

  /**
   * Waits until the workflow has finished, at most settleTimeoutMs. The wait is aborted when the
   * time is up rather than left polling: a poll still retrying when the connection closes would
   * throw from a timer, out of reach of any handler.
   */
  private async settle(handle: WorkflowHandle): Promise<boolean> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.settleTimeoutMs), this.stopping.signal]);
    let closed = false;
    await this.tracked(
      this.options.client
        .withAbortSignal(signal, () => {
          // A call made once the signal has fired would never see it: refuse it instead.
          signal.throwIfAborted();
          return handle.result();
        })
        .then(
          () => undefined,
          // A run that ended Failed or Canceled rejects; one never started is as good as closed.
          (error: unknown) => {
            if (error instanceof WorkflowFailedError || error instanceof WorkflowNotFoundError) closed = true;
          },
        )
        .then(() => {
          closed ||= !signal.aborted;
        }),
    );
    return closed;
  }

  /**
   * Sends an update (`call`, on a workflow handle) and waits for the workflow's answer, at most
   * updateTimeoutMs: its result, or 'unanswered' when no worker took it in that time (none runs,
   * or all are saturated). While this process stops, it is refused.
   */
  private async update<Ret>(call: () => Promise<Ret>): Promise<{ readonly result: Ret } | 'unanswered'> {
    const timeout = AbortSignal.timeout(this.updateTimeoutMs);
    const signal = AbortSignal.any([timeout, this.stopping.signal]);
    try {
      const result = await this.tracked(
        this.options.client.withAbortSignal(signal, () => {
          // A call made once the signal has fired would never see it: refuse it instead.
          signal.throwIfAborted();
          return call();
        }),
      );
      return { result };
    } catch (error) {
      if (timeout.aborted && !this.stopping.signal.aborted) return 'unanswered';
      throw error;
    }
  }

  /**
   * Signals the workflow; false when it is not running (closed), after `ifNeverStarted` when it
   * was never started.
   */
  private async signal(
    handle: WorkflowHandle,
    signal: typeof cancelSignal | typeof resendSignal,
    ifNeverStarted: () => Promise<void>,
  ): Promise<boolean> {
    try {
      await handle.signal(signal);
      return true;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw toUnavailable(error);
      if ((await this.closedStatus(handle)) === undefined) await ifNeverStarted();
      return false;
    }
  }

  /**
   * How a closed workflow ended the delivery, from Temporal's status (a run from before
   * Temporal's status told the outcome completes with it); undefined while it runs or when it
   * was never started.
   */
  private async closedStatus(handle: WorkflowHandle): Promise<Delivery['status'] | undefined> {
    let status: string;
    try {
      status = (await handle.describe()).status.name;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw toUnavailable(error);
    }
    if (status !== 'COMPLETED') return DELIVERY_STATUS_OF_CLOSED_RUN[status];
    const result = (await handle.result().catch(() => undefined)) as DeliveryState | undefined;
    return result?.status ?? 'succeeded';
  }

  /** The status of a delivery whose workflow refused an update because it has ended. */
  private async endedStatus(handle: WorkflowHandle): Promise<Delivery['status']> {
    const state = await handle.query(statusQuery).catch(() => undefined);
    return state?.status ?? (await this.closedStatus(handle)) ?? 'pending';
  }

  /** Starts a delivery still in the outbox with the cancel signal, so it ends cancelled at once. */
  private async startToCancel(delivery: Delivery): Promise<void> {
    const options = await this.startOptions(delivery, WorkflowIdReusePolicy.REJECT_DUPLICATE);
    try {
      await this.options.client.workflow.signalWithStart(deliveryWorkflow, {
        ...options,
        signal: cancelSignal,
        signalArgs: [],
      });
    } catch (error) {
      // Started meanwhile (the dispatcher), and ended before the cancel reached it.
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        const closed = await this.closedStatus(this.options.client.workflow.getHandle(delivery.workflowId));
        if (closed !== undefined && closed !== 'cancelled') throw refused(undefined, closed);
        return;
      }
      throw toUnavailable(error);
    }
  }

  /** Keeps `work` in sight of stop() until it ends. */
  private tracked<T>(work: Promise<T>): Promise<T> {
    const settled: Promise<void> = work.then(
      () => void this.background.delete(settled),
      () => void this.background.delete(settled),
    );
    this.background.add(settled);
    return work;
  }
}

/** The 409 for an operator action on a delivery that has ended, with the workflow's reason. */
function refused(error: WorkflowUpdateFailedError | undefined, status: Delivery['status']): ConflictError {
  const reason = error?.cause?.message ?? `the delivery already ${status}`;
  return new ConflictError(reason, [{ path: 'status', message: `is ${status}` }]);
}

function toUnavailable(error: unknown): Error {
  if (error instanceof ConflictError || error instanceof NotFoundError) return error;
  const unavailable = new UnavailableError('Temporal is unavailable; retry later');
  unavailable.cause = error;
  return unavailable;
}
