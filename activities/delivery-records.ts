/**
 * What the activities need of the store: the one seam between the delivery engine and storage.
 * The store's DeliveryStore implements it; the worker's composition passes it in.
 */
import type {
  Attempt,
  AttemptContext,
  AttemptRecord,
  DeliveryStatus,
  RecordedAttempt,
  StatusChange,
} from '../core/model';
import type { SendTurn, SendTurnRequest } from '../core/throttle';

export interface DeliveryRecords {
  /** The delivery, its event, target and secrets, read fresh at every attempt; undefined when unknown. */
  attemptContext(deliveryId: string): Promise<AttemptContext | undefined>;
  /** The attempts of several deliveries, by delivery id, oldest first. */
  attemptsOf(deliveryIds: readonly string[]): Promise<Map<string, Attempt[]>>;
  /**
   * Appends an attempt; a delivered one also marks the delivery succeeded. Updates its
   * subscription's health in the same write. Returns its number and that health.
   */
  recordAttempt(deliveryId: string, record: AttemptRecord): Promise<RecordedAttempt>;
  /**
   * Whether an attempt of the delivery may send now under its subscription's throttleRate (see
   * core/throttle.ts), or waits for the slot it reserved, which becomes the delivery's
   * nextAttemptAt; `heldSlotAt`: the slot it waited for, if it did; `withdrawn`: a turn it was
   * given and gives back unused.
   */
  takeSendTurn(turn: SendTurnRequest): Promise<SendTurn>;
  /** Sets the delivery's status; says what it was before and its event type, undefined when unknown. */
  setStatus(deliveryId: string, status: DeliveryStatus): Promise<StatusChange | undefined>;
}
