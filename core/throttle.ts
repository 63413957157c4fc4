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
 * catch up within that bound instead of losing their turn: one that finds the window full keeps
 * its place for a window's time (HELD_SLOT_KEPT_MS at least) and waits for the next room. Sends
 * are spaced at least three quarters of a slot apart (MIN_SEND_SPACING), so after workers fall
 * behind they catch up at up to 4/3 of the rate until the window is full, never all at once.
 */

/** The most a subscription may be throttled to, deliveries per second. */
export const MAX_THROTTLE_RATE = 10_000;

/** The most sends the window counts (the store keeps this many send times per subscription). */
export const THROTTLE_LOG_LIMIT = 64;

/**
 * Sends are at least this many slots apart (a slot is 1/rate): attempts catching up after
 * waking late go out spread over the window rather than all at once, so a little lag between
 * deciding and posting cannot put a burst's end and the next window's start in one second.
 */
export const MIN_SEND_SPACING = 0.75;

/**
 * A slot waited for keeps its place for a window, or this long (ms) if longer: attempts wake late
 * for their slots by the time a timer, a workflow task and an activity take, up to a second or
 * two on a busy worker, and one that lost its place would go to the end of the schedule.
 */
export const HELD_SLOT_KEPT_MS = 2_000;

/** A slot that begins this soon (ms) is taken at once rather than waited for. */
export const SLOT_TOLERANCE_MS = 10;

/**
 * A delivery's workflow wakes this long (ms) before its slot, and its attempt waits the rest:
 * Temporal's timers fire up to about a second late, which would make every slot late.
 */
export const SLOT_LEAD_MS = 1_000;

/** The most times an attempt waits (SLOT_LEAD_MS at most each) for its turn before its workflow waits instead. */
export const MAX_SHORT_WAITS = 3;

/**
 * The most times an attempt gives back a turn that reached it late and asks again; after that it
 * sends on the late turn.
 */
export const MAX_TURN_RETAKES = 5;

/**
 * How late (ms from asking) a turn to send may reach the attempt and still be used: half the
 * spacing between sends, between 20 and 250 ms. The window counts a send when it is decided; an
 * attempt held up after the decision (its process busy) would post later than counted, bunched
 * with the next sends, so it gives the turn back (see DeliveryRecords.takeSendTurn's
 * `withdrawn`) and asks again.
 */
export function staleTurnMs(rate: number): number {
  return Math.min(250, Math.max(20, (MIN_SEND_SPACING * 500) / rate));
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
  { readonly kind: 'now'; readonly decision: string | null } | { readonly kind: 'wait'; readonly slotAt: number };
