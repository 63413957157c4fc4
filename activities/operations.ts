/**
 * The activities of a bulk operation's workflow (recover, replay): each takes one batch of
 * deliveries through the store and acts on each, so that no delivery is resent twice however
 * often a batch is retried. What to do with a delivery is decided from what it was when the batch
 * took it and what it is now (actionFor), never from a memory of the batch that could be lost.
 */
import { CancelledFailure, Context } from '@temporalio/activity';
import type { Operation, OperationKind, OperationStatus } from '../core/model';
import type { OperationItem, OperationRecords } from './operation-records';
import { keepHeartbeating } from './heartbeat';

/** How an operation's deliveries are set going again. The worker's composition implements it. */
export interface DeliveryRestarts {
  /**
   * An ended delivery delivered again: a new run of its workflow, the same webhook-id. Only if it
   * is still ended with `attemptCount` attempts, as the batch saw it: a batch run twice at once
   * (its first run timed out but not yet stopped) resends it once.
   */
  resend(deliveryId: string, attemptCount: number): Promise<void>;
  /** A delivery a resend marked pending: starts its new run unless it runs. */
  ensureRunning(deliveryId: string): Promise<void>;
  /** A delivery a replay wrote: started as the dispatcher starts a new delivery (either delivery mode). */
  start(deliveryId: string): Promise<void>;
}

export interface OperationActivityDeps {
  readonly operations: OperationRecords;
  readonly restarts: DeliveryRestarts;
}

/** Where an operation stands, as its query and search attributes show it. */
export interface OperationProgress {
  readonly status: OperationStatus;
  readonly matched: number;
  readonly done: number;
  readonly remaining: number;
}

/** A batch's outcome: the progress after it, and whether the operation has nothing left to take. */
export interface OperationBatchOutcome {
  readonly progress: OperationProgress;
  readonly finished: boolean;
}

/** Deliveries one batch takes. */
const OPERATION_BATCH_SIZE = 100;
/** Deliveries of a batch acted on at once. */
const ITEM_CONCURRENCY = 16;
/** A batch heartbeats this often, so a cancellation reaches it within a few seconds and a lost worker is noticed. */
const HEARTBEAT_INTERVAL_MS = 500;

const progressOf = (operation: Operation): OperationProgress => ({
  status: operation.status,
  matched: operation.matched,
  done: operation.done,
  remaining: Math.max(0, operation.matched - operation.done),
});

export type ItemAction = 'none' | 'resend' | 'ensure-running' | 'start';

/**
 * What a batch does with one delivery. A recovered delivery that has made an attempt since it was
 * taken, or succeeded, was resent already (by this operation's lost batch, or by someone else);
 * one that is pending was marked so by a resend whose run may not have started. A replayed
 * delivery is started until its first attempt is recorded (starting it again is rejected by
 * Temporal, or joined by its subscriber workflow). A delivery that is gone is left alone.
 */
export function actionFor(kind: OperationKind, item: OperationItem): ItemAction {
  if (item.status === undefined) return 'none';
  if (kind === 'replay') return item.status === 'pending' && item.attemptCount === 0 ? 'start' : 'none';
  if (item.status === 'succeeded' || item.attemptCount > item.attemptsBefore) return 'none';
  return item.status === 'pending' ? 'ensure-running' : 'resend';
}

export function createOperationActivities(deps: OperationActivityDeps) {
  const act = async (kind: OperationKind, item: OperationItem): Promise<void> => {
    switch (actionFor(kind, item)) {
      case 'resend':
        return deps.restarts.resend(item.deliveryId, item.attemptsBefore);
      case 'ensure-running':
        return deps.restarts.ensureRunning(item.deliveryId);
      case 'start':
        return deps.restarts.start(item.deliveryId);
      case 'none':
        return undefined;
    }
  };

  /**
   * Acts on the items, ITEM_CONCURRENCY at a time and in their order (oldest first), until all
   * are handled or the activity is cancelled; returns the ids of those handled. The first error
   * is thrown once the others in flight have ended, after the handled ones are counted.
   */
  const handle = async (
    operationId: string,
    kind: OperationKind,
    items: readonly OperationItem[],
    cancelled: AbortSignal,
  ): Promise<void> => {
    const handled: string[] = [];
    let next = 0;
    let failure: unknown;
    const lane = async (): Promise<void> => {
      while (next < items.length && !cancelled.aborted && failure === undefined) {
        const item = items[next++] as OperationItem;
        try {
          await act(kind, item);
          handled.push(item.deliveryId);
        } catch (error) {
          failure ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(ITEM_CONCURRENCY, items.length) }, lane));
    if (handled.length > 0) await deps.operations.markDone(operationId, handled);
    if (failure !== undefined) throw failure;
  };

  return {
    /**
     * One batch: the items a lost or failed batch left unfinished, else the next ones. Cancelled,
     * it stops taking items, lets those in flight finish and counts them, then reports the
     * cancellation: what was resent stays resent, and is counted.
     */
    async runOperationBatch(operationId: string): Promise<OperationBatchOutcome> {
      const context = Context.current();
      const stopHeartbeats = keepHeartbeating(context, HEARTBEAT_INTERVAL_MS);
      try {
        const operation = await deps.operations.get(operationId);
        if (operation === undefined || operation.status !== 'running') {
          return { progress: operation ? progressOf(operation) : GONE, finished: true };
        }
        let items: readonly OperationItem[] = await deps.operations.unfinishedItems(operationId, OPERATION_BATCH_SIZE);
        let exhausted = false;
        if (items.length === 0)
          ({ items, exhausted } = await deps.operations.takeNext(operationId, OPERATION_BATCH_SIZE));
        await handle(operationId, operation.kind, items, context.cancellationSignal);
        if (context.cancellationSignal.aborted) throw new CancelledFailure('the operation was cancelled');
        const after = (await deps.operations.get(operationId)) ?? operation;
        return { progress: progressOf(after), finished: exhausted || after.status !== 'running' };
      } finally {
        stopHeartbeats();
      }
    },

    /** Ends the operation (completed, cancelled or failed) unless it has ended; its progress then. */
    async finishOperation(input: {
      readonly operationId: string;
      readonly status: Exclude<OperationStatus, 'running'>;
    }): Promise<OperationProgress> {
      const operation = await deps.operations.finish(input.operationId, input.status);
      return operation ? progressOf(operation) : GONE;
    },
  };
}

/** The progress of an operation whose row is gone. */
const GONE: OperationProgress = { status: 'failed', matched: 0, done: 0, remaining: 0 };

export type OperationActivities = ReturnType<typeof createOperationActivities>;
