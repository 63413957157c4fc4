/**
 * The index that matches an event's type to its subscriptions writes new entries straight into
 * its tree. By default a GIN index queues them in a "pending list" that every search scans in
 * full until a vacuum merges it; PGlite runs no autovacuum, so with 10,000 subscriptions each
 * ingested event spent ~10 ms scanning that list (bench/store-ops.ts). Subscriptions change
 * rarely; events arrive all the time.
 */
export const sql = `
ALTER INDEX subscriptions_event_types SET (fastupdate = off);
SELECT gin_clean_pending_list('subscriptions_event_types'::regclass);
`;
