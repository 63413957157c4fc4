/**
 * Tenant fairness: every delivery's workflow and activity tasks carry its account as Temporal's
 * fairness key, so the matching service dispatches tasks round-robin across accounts and one
 * account's backlog does not hold back another's deliveries. Workflow-safe: subscriber workflows
 * key the delivery workflows they start.
 */

/** The key of vendor-level events (no account): one key of their own, never an account id ('~' is not in one). */
export const VENDOR_FAIRNESS_KEY = '~vendor';

/** Temporal's longest fairness key, bytes. */
const MAX_KEY_LENGTH = 64;

/** FNV-1a, 32 bits, as hex: a short stable tag for account ids too long to be a key. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** The fairness key of an account's deliveries (account ids are ASCII identifiers of up to 128 characters). */
export function fairnessKeyOf(accountId: string | null): string {
  if (accountId === null) return VENDOR_FAIRNESS_KEY;
  if (accountId.length <= MAX_KEY_LENGTH) return accountId;
  return `${accountId.slice(0, MAX_KEY_LENGTH - 9)}~${fnv1a(accountId)}`;
}
