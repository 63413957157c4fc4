/**
 * A subscription's health, kept current by every attempt (the attempt's own write): failures in a
 * row, the last success and failure, since when it has been failing; and when and why it was
 * disabled (410 Gone, or no success for WEBHOOKS_DISABLE_AFTER). Re-enabling clears them.
 */
export const sql = `
ALTER TABLE subscriptions ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN last_success_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN last_failure_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN failing_since timestamptz;
ALTER TABLE subscriptions ADD COLUMN disabled_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN disabled_reason text;
`;
