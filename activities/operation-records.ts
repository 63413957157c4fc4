/**
 * What a bulk operation's activities need of the store: the operation's row and the ledger of the
 * deliveries it has taken. The store's OperationStore implements it; the worker's composition
 * passes it in.
 */
import type { DeliveryStatus, Operation, OperationStatus } from '../core/model';

/** A delivery an operation took into a batch, with what it was then and what it is now. */
export interface OperationItem {
  readonly deliveryId: string;
  /** Its attempts when the operation took it. */
  readonly attemptsBefore: number;
  /** Its status now; undefined when it is gone (removed by retention). */
  readonly status: DeliveryStatus | undefined;
  /** Its attempts now. */
  readonly attemptCount: number;
}

/** One batch taken: its items, and whether the operation's window holds nothing more to take. */
export interface TakenBatch {
  readonly items: readonly OperationItem[];
  readonly exhausted: boolean;
}

export interface OperationRecords {
  /** The operation; undefined when unknown. */
  get(operationId: string): Promise<Operation | undefined>;
  /** Items a batch took and did not finish (it crashed, or was retried), at most `limit`. */
  unfinishedItems(operationId: string, limit: number): Promise<OperationItem[]>;
  /**
   * Takes the next batch of a running operation, from where the last one stopped, at most `limit`
   * items. recover: the next deliveries to resend. replay: writes a delivery for each of the next
   * events that need one. Nothing, and exhausted, once the operation is no longer running.
   */
  takeNext(operationId: string, limit: number): Promise<TakenBatch>;
  /** Marks items handled and counts them in `done`; returns the operation. */
  markDone(operationId: string, deliveryIds: readonly string[]): Promise<Operation | undefined>;
  /**
   * Ends a running operation with `status` and drops its ledger; one that has ended already stays
   * as it ended. Returns the operation.
   */
  finish(operationId: string, status: Exclude<OperationStatus, 'running'>): Promise<Operation | undefined>;
}
