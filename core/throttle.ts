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

/** An attempt asking for its turn: its delivery, the subscription, and the slot it waited for, if it did. */
export interface SendTurnRequest {
  readonly deliveryId: string;
  readonly subscriptionId: string;
  readonly heldSlotAt?: number | undefined;
}

/** An attempt's turn: send now, or wait for the slot it reserved (ms since the epoch, the store's clock). */
export type SendTurn = { readonly kind: 'now' } | { readonly kind: 'wait'; readonly slotAt: number };
