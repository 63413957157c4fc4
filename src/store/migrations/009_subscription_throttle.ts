/**
 * Throttled subscriptions: `throttle_rate` deliveries per second (null: unlimited), and the
 * schedule every worker shares: `throttle_next_at`, where the next free slot begins (a reserved
 * slot moves it on by 1/rate), and `throttle_last_sent_at`, when the last attempt was sent.
 */
export const sql = `
ALTER TABLE subscriptions ADD COLUMN throttle_rate double precision;
ALTER TABLE subscriptions ADD COLUMN throttle_next_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN throttle_last_sent_at timestamptz;
`;
