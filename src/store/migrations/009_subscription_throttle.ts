/**
 * Throttled subscriptions: `throttle_rate` deliveries per second (null: unlimited), and the
 * schedule every worker shares (core/throttle.ts): `throttle_next_at`, where the next free slot
 * begins (a reserved slot moves it on by 1/rate), and `throttle_sent_log`, when the last sends
 * went out (the last THROTTLE_LOG_LIMIT at most), which bounds how many go out in any window.
 */
export const sql = `
ALTER TABLE subscriptions ADD COLUMN throttle_rate double precision;
ALTER TABLE subscriptions ADD COLUMN throttle_next_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN throttle_sent_log timestamptz[] NOT NULL DEFAULT '{}';
`;
