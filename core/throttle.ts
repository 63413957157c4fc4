/**
 * The throttle rule: a throttled subscription (`throttleRate`, deliveries per second) sends on a
 * schedule of slots 1/rate apart that every worker shares through the store. An attempt whose
 * turn has not come reserves the next free slot and its workflow waits for it durably; the store
 * decides each turn (src/store/deliveries.ts takeSendTurn).
 *
 * What goes out is bounded by a sliding window: at most K sends decided in any K/rate seconds,
 * K being ⌊rate⌋ (at least 1) capped at THROTTLE_LOG_LIMIT. So a second holds at most ⌊rate⌋
 * decisions, and a receiver sees at most ⌊rate⌋ + 1 requests in any second (6 at 5/s) even as
 * requests leave a little earlier or later than decided; attempts that woke late for their slots
 * catch up within that bound instead of losing their turn: one that finds the window full keeps its place for a window's time and
 * waits for the next room. After workers fall behind, sends therefore come in bursts of up to K
 * with pauses between, at the rate on average.
 */

/** The most a subscription may be throttled to, deliveries per second. */
export const MAX_THROTTLE_RATE = 10_000;

/** The most sends the window counts (the store keeps this many send times per subscription). */
export const THROTTLE_LOG_LIMIT = 64;

/** A slot that begins this soon (ms) is taken at once rather than waited for. */
export const SLOT_TOLERANCE_MS = 10;

/**
 * The most times an attempt gives back a turn that reached it late and asks again; after that it
 * sends on the late turn.
 */
export const MAX_TURN_RETAKES = 5;

/**
 * How late (ms from asking) a turn to send may reach the attempt and still be used: a quarter
 * slot, between 20 and 250 ms. The window counts a send when it is decided; an attempt held up
 * after the decision (its process busy) would post later than counted, bunched with the next
 * sends, so it gives the turn back (see DeliveryRecords.takeSendTurn's `withdrawn`) and asks again.
 */
export function staleTurnMs(rate: number): number {
  return Math.min(250, Math.max(20, 250 / rate));
}

/** An attempt asking for its turn: its delivery, the subscription, and the slot it waited for, if it did. */
export interface SendTurnRequest {
  readonly deliveryId: string;
  readonly subscriptionId: string;
  readonly heldSlotAt?: number | undefined;
  /** A turn to send this attempt was given and did not use (`decision` of that turn): the window forgets it. */
  readonly withdrawn?: string | undefined;
}

/**
 * An attempt's turn: send now, or wait for the slot it reserved (ms since the epoch, the store's
 * clock). A throttled send's `decision` is the send as the window counts it (null when unthrottled).
 */
export type SendTurn =
  | { readonly kind: 'now'; readonly decision: string | null }
  | { readonly kind: 'wait'; readonly slotAt: number };
