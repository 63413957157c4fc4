import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, WorkflowNotFoundError } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { DeliveryRestarts } from '../../activities/operations';
import type { Operation } from '../../core/model';
import {
  ACCOUNT_ID,
  OPERATION_DONE,
  OPERATION_KIND,
  OPERATION_REMAINING,
  SUBSCRIPTION_ID,
} from '../../core/search-attributes';
import { deliveryWorkflow, operationWorkflow } from '../../workflows';
import type { OperationWorkflowInput } from '../../workflows/operation-messages';
import { ConflictError, UnavailableError } from '../errors';
import type { Store } from '../store';
import type { NewOperation } from '../store/operations';
import { DeliveryControl, type DeliveryControlOptions } from './delivery-control';
import { deliveryStartOptions, type DeliveryStartSettings } from './delivery-start';
import { DeliveryDispatcher, type DispatcherOptions } from './dispatcher';

export interface OperationControlOptions {
  readonly client: Client;
  readonly store: Pick<Store, 'operations'>;
  readonly taskQueue: string;
  /** How long cancel waits for the operation to end before answering, ms. @default 10000 */
  readonly settleTimeoutMs?: number;
}

/** While cancel waits, it looks at the operation this often, ms, and asks Temporal again (a run that continued as new meanwhile is a new run). */
const CANCEL_POLL_MS = 250;
const CANCEL_REPEAT_MS = 2_000;

/** The operation in a line, for the Temporal UI's summary. */
function summaryOf(operation: Operation): string {
  const window = `${operation.filter.since.toISOString()} to ${operation.filter.until.toISOString()}`;
  return operation.kind === 'recover'
    ? `recover ${(operation.filter.statuses ?? []).join(' and ')} deliveries of ${operation.subscriptionId}, events of ${window}`
    : `replay events of ${window} to ${operation.subscriptionId}`;
}

/**
 * Starts and cancels bulk operations (recover, replay): each is a row in the store, which the API
 * reads, and one workflow (workflows/operation.ts), which writes the row through its activities.
 */
export class OperationControl {
  private readonly settleTimeoutMs: number;

  constructor(private readonly options: OperationControlOptions) {
    this.settleTimeoutMs = options.settleTimeoutMs ?? 10_000;
  }

  /** Writes the operation and starts its workflow; without the workflow, there is no operation. */
  async start(input: NewOperation): Promise<Operation> {
    const { operations } = this.options.store;
    const operation = await operations.create(input);
    const workflowInput: OperationWorkflowInput = {
      operationId: operation.id,
      kind: operation.kind,
      subscriptionId: operation.subscriptionId,
      progress: { status: 'running', matched: operation.matched, done: 0, remaining: operation.matched },
    };
    try {
      await this.options.client.workflow.start(operationWorkflow, {
        workflowId: operation.workflowId,
        taskQueue: this.options.taskQueue,
        args: [workflowInput],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [
          { key: OPERATION_KIND, value: operation.kind },
          { key: SUBSCRIPTION_ID, value: operation.subscriptionId },
          ...(operation.accountId !== null ? [{ key: ACCOUNT_ID, value: operation.accountId }] : []),
          { key: OPERATION_DONE, value: 0 },
          { key: OPERATION_REMAINING, value: operation.matched },
        ],
        staticSummary: summaryOf(operation),
      });
    } catch (error) {
      await operations.remove(operation.id).catch(() => undefined);
      throw unavailable(error);
    }
    return operation;
  }

  /**
   * Asks the operation's workflow to stop and waits, bounded, until the operation has ended.
   * Cancelling a cancelled operation is accepted again; a completed or failed one is a conflict.
   * A workflow that closed without ending its operation (terminated) has it ended here, cancelled.
   */
  async cancel(operation: Operation): Promise<void> {
    if (operation.status === 'completed' || operation.status === 'failed') {
      throw new ConflictError(`the operation already ${operation.status}`, [
        { path: 'status', message: `is ${operation.status}` },
      ]);
    }
    if (operation.status === 'cancelled') return;
    const { operations } = this.options.store;
    const handle = this.options.client.workflow.getHandle(operation.workflowId);
    const deadline = Date.now() + this.settleTimeoutMs;
    let askedAt = 0;
    while (Date.now() < deadline) {
      const now = await operations.get(operation.id);
      if (now === undefined || now.status !== 'running') return;
      if (Date.now() - askedAt >= CANCEL_REPEAT_MS) {
        askedAt = Date.now();
        if (!(await requestCancellation(handle))) {
          await operations.finish(operation.id, 'cancelled');
          return;
        }
      }
      await delay(CANCEL_POLL_MS);
    }
  }
}

/** Asks Temporal to cancel the workflow's current run; false when none runs (it closed, or never started). */
async function requestCancellation(handle: WorkflowHandle): Promise<boolean> {
  try {
    if ((await handle.describe()).status.name !== 'RUNNING') return false;
    await handle.cancel();
    return true;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return false;
    throw unavailable(error);
  }
}

/**
 * How an operation's deliveries are set going (activities/operations.ts DeliveryRestarts), the
 * ways the API and the dispatcher do it: a resend is the API's resend of one delivery, a new
 * delivery is started by the dispatcher, in either delivery mode.
 */
export class DeliveryRestarter implements DeliveryRestarts {
  constructor(
    private readonly options: DeliveryStartSettings & {
      readonly client: Client;
      readonly store: Pick<Store, 'deliveries'>;
      readonly control: DeliveryControl;
      readonly dispatcher: DeliveryDispatcher;
    },
  ) {}

  async resend(deliveryId: string, attemptCount: number): Promise<void> {
    const delivery = await this.options.store.deliveries.get(deliveryId);
    if (delivery !== undefined) await this.options.control.resendIfUnchanged(delivery, attemptCount);
  }

  /**
   * The delivery is pending, so its last run ended before it was marked so (a resend waits for
   * that), and a run that ended since would have written its outcome: a run that is not running
   * is the old one, and the resend's new run is started here.
   */
  async ensureRunning(deliveryId: string): Promise<void> {
    const plan = await this.options.store.deliveries.plan(deliveryId);
    if (plan === undefined) return;
    try {
      await this.options.client.workflow.start(
        deliveryWorkflow,
        deliveryStartOptions(plan, this.options, WorkflowIdReusePolicy.ALLOW_DUPLICATE),
      );
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }

  async start(deliveryId: string): Promise<void> {
    const plan = await this.options.store.deliveries.plan(deliveryId);
    if (plan !== undefined) await this.options.dispatcher.startDelivery(plan);
  }
}

/**
 * The worker side of operations: the restarts their batches make, through a DeliveryControl and
 * a DeliveryDispatcher of their own (no relay: only its starts, through its first-attempt window,
 * so a replay of 100,000 events does not hand them to Temporal all at once). `stop` ends them.
 */
export function createDeliveryRestarter(
  options: Omit<DeliveryControlOptions, 'settleTimeoutMs' | 'updateTimeoutMs'> &
    Pick<DispatcherOptions, 'mode' | 'fairness'>,
): { restarts: DeliveryRestarts; stop: () => Promise<void> } {
  const { store } = options;
  const control = new DeliveryControl(options);
  const dispatcher = new DeliveryDispatcher({
    ...options,
    events: store.events,
    attempted: (ids) => store.deliveries.attemptedAmong(ids),
  });
  return {
    restarts: new DeliveryRestarter({ ...options, control, dispatcher }),
    stop: async () => {
      await dispatcher.stop();
      await control.stop();
    },
  };
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function unavailable(error: unknown): Error {
  const wrapped = new UnavailableError('Temporal is unavailable; retry later');
  wrapped.cause = error;
  return wrapped;
}
