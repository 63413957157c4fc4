/**
 * What an API key scoped to an account may see: the one place that says it. Every read that an
 * account key makes passes its account as `visibleTo`; an admin key passes undefined and sees all.
 * - Events and subscriptions: those of its account. Vendor-level subscriptions (no account) are
 *   the admin's alone.
 * - Deliveries: its events' deliveries to its own subscriptions and to its events' callbacks, not
 *   those to vendor-level subscriptions, which belong to the vendor.
 * Whatever an account may not see answers as if it did not exist.
 */

/** The account of the caller's key; undefined for an admin key. */
export type VisibleTo = string | undefined;

/** SQL condition on events or subscriptions: owned by the account in parameter $n. */
export const ownedBy = (n: number): string => `account_id = $${n}`;

/** SQL condition on deliveries: visible to the account in parameter $n. */
export const deliveryVisibleTo = (n: number): string =>
  `(account_id = $${n} AND (subscription_id IS NULL OR subscription_id IN (SELECT id FROM subscriptions WHERE account_id = $${n})))`;

/** ` AND <condition>` when the read is scoped to an account (its parameter is $n), else nothing. */
export const andVisible = (visibleTo: VisibleTo, condition: (n: number) => string, n: number): string =>
  visibleTo === undefined ? '' : ` AND ${condition(n)}`;

/** The query's parameters, with the account appended when the read is scoped to one. */
export const withVisibleTo = (params: readonly unknown[], visibleTo: VisibleTo): unknown[] =>
  visibleTo === undefined ? [...params] : [...params, visibleTo];
