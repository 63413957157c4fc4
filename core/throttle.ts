/**
 * The throttle rule: a throttled subscription (`throttleRate`, deliveries per second) sends on a
 * schedule of slots 1/rate apart that every worker shares through the store. An attempt whose
 * turn has not come reserves the next free slot and its workflow waits for it durably; the store
 * decides each turn (src/store/deliveries.ts takeSendTurn).
 */

/** The most a subscription may be throttled to, deliveries per second. */
export const MAX_THROTTLE_RATE = 10_000;

/**
 * No two sends closer than this fraction of 1/rate: an attempt that woke late for its slot, and
 * would land too close behind the last send, takes the next free slot instead. 0.85 keeps any one
 * second to ⌈rate/0.85⌉ sends at most (6 at 5/s) however late workers are.
 */
export const THROTTLE_MIN_GAP = 0.85;

/** A slot that begins this soon (ms) is taken at once rather than waited for. */
export const SLOT_TOLERANCE_MS = 10;

/** An attempt's turn: send now, or wait for the slot it reserved (ms since the epoch, the store's clock). */
export type SendTurn = { readonly kind: 'now' } | { readonly kind: 'wait'; readonly slotAt: number };
