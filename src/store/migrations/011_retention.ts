/**
 * Retention (WEBHOOKS_RETENTION) walks deliveries and events oldest first, a batch at a time, from
 * where its last batch stopped: these indexes give it that order. created_at never changes, so
 * they cost one entry per row inserted and none when a delivery's attempts or status are written.
 * IF NOT EXISTS: on a large PostgreSQL store, an operator may build them beforehand with CREATE
 * INDEX CONCURRENTLY (docs/operations.md, "Retention") instead of blocking writes while this runs.
 */
export const sql = `
CREATE INDEX IF NOT EXISTS deliveries_created ON deliveries (created_at, id);
CREATE INDEX IF NOT EXISTS events_created ON events (created_at, id);
`;
