import { WorkflowIdReusePolicy, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Delivery } from '../../core/model';
import { ConflictError, NotFoundError, UnavailableError } from '../errors';
import type { Store } from '../store';
import { forEachLimited } from '../util/concurrency';
import { deliveryWorkflow } from '../../workflows';
import { cancelSignal, resendSignal } from '../../workflows/messages';
import { deliveryStartOptions } from './delivery-start';

export interface DeliveryControlOptions {
  readonly client: Client;
  readonly store: Store;
  readonly logger: Logger;
  readonly taskQueue: string;
  readonly attemptTimeoutMs: number;
  /** How long cancel waits for the workflow to finish before answering, ms. @default 10000 */
  readonly settleTimeoutMs?: number;
}

/** Operator actions on deliveries, carried out as signals to their workflows. */
export class DeliveryControl {
  private readonly settleTimeoutMs: number;
  /** Aborted on stop: a call still retrying when the connection closes would throw from a timer. */
  private readonly stopping = new AbortController();
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly options: DeliveryControlOptions) {
    this.settleTimeoutMs = options.settleTimeoutMs ?? 10_000;
  }

  private async startOptions(delivery: Delivery, reusePolicy: WorkflowIdReusePolicy) {
    const plan = await this.options.store.deliveries.plan(delivery.id);
    if (!plan) throw new NotFoundError('delivery', delivery.id);
    return deliveryStartOptions(plan, this.options, reusePolicy);
  }

  /**
   * Stops a pending delivery and waits (bounded) until its workflow has recorded it. A delivery
   * whose workflow was not started yet (still in the outbox) is started only to end as cancelled,
   * so no later dispatch can deliver it.
   */
  async cancel(delivery: Delivery): Promise<void> {
    if (delivery.status === 'cancelled') return;
    if (delivery.status !== 'pending') {
      throw new ConflictError(`delivery '${delivery.id}' already ${delivery.status}`, [
        { path: 'status', message: `is ${delivery.status}` },
      ]);
    }
    const options = await this.startOptions(delivery, WorkflowIdReusePolicy.REJECT_DUPLICATE);
    try {
      const handle = await this.options.client.workflow.signalWithStart(deliveryWorkflow, {
        ...options,
        signal: cancelSignal,
        signalArgs: [],
      });
      await this.settle(handle);
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw toUnavailable(error);
      // The workflow had already finished: the store catches up when it records the outcome.
    }
  }

  /**
   * A new attempt now. Pending: skips the remaining backoff. Finished: delivers again with a fresh
   * retry window, as a new run of the same workflow id.
   */
  async resend(delivery: Delivery): Promise<void> {
    if (delivery.status === 'pending') {
      const options = await this.startOptions(delivery, WorkflowIdReusePolicy.REJECT_DUPLICATE);
      await this.options.client.workflow
        .signalWithStart(deliveryWorkflow, { ...options, signal: resendSignal, signalArgs: [] })
        .catch((error: unknown) => {
          throw toUnavailable(error);
        });
      return;
    }
    const options = await this.startOptions(delivery, WorkflowIdReusePolicy.ALLOW_DUPLICATE);
    // Pending before the new run starts, so the run's own outcome is the last write.
    await this.options.store.deliveries.setStatus(delivery.id, 'pending');
    try {
      await this.options.client.workflow.signalWithStart(deliveryWorkflow, {
        ...options,
        signal: resendSignal,
        signalArgs: [],
      });
    } catch (error) {
      await this.options.store.deliveries.setStatus(delivery.id, delivery.status).catch(() => undefined);
      throw toUnavailable(error);
    }
  }

  /** Cancels every pending delivery of a subscription, in the background. */
  cancelPendingOf(subscriptionId: string): void {
    const run = async (): Promise<void> => {
      const workflowIds = await this.options.store.deliveries.pendingWorkflowIds(subscriptionId);
      await forEachLimited(workflowIds, 16, async (workflowId) => {
        await this.options.client.workflow
          .getHandle(workflowId)
          .signal(cancelSignal)
          .catch((error: unknown) => {
            // Not started yet: its first attempt finds the subscription gone and ends cancelled.
            if (!(error instanceof WorkflowNotFoundError)) throw error;
          });
      });
    };
    void this.tracked(
      this.options.client
        .withAbortSignal(this.stopping.signal, run)
        .catch((error: unknown) =>
          this.options.logger.warn({ subscriptionId, err: error }, 'cancelling pending deliveries failed'),
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
  private async settle(handle: WorkflowHandle): Promise<void> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.settleTimeoutMs), this.stopping.signal]);
    await this.tracked(
      this.options.client
        .withAbortSignal(signal, () => handle.result())
        .then(
          () => undefined,
          () => undefined,
        ),
    );
  }

  /** Keeps `work` in sight of stop() until it ends. */
  private tracked(work: Promise<void>): Promise<void> {
    const done = work.finally(() => this.background.delete(done));
    this.background.add(done);
    return done;
  }
}

function toUnavailable(error: unknown): Error {
  if (error instanceof ConflictError || error instanceof NotFoundError) return error;
  const unavailable = new UnavailableError('Temporal is unavailable; retry later');
  unavailable.cause = error;
  return unavailable;
}
