/**
 * Secrets at rest: the signing and callback secrets are sealed by the service (src/store/secret-box.ts),
 * which also seals the rows stored before (src/store/reseal.ts: SQL cannot see the keys). This
 * index lets that pass, at every start, visit only the events that carry a callback secret.
 */
export const sql = `
CREATE INDEX events_with_callback_secret ON events (id) WHERE callback_secret IS NOT NULL;
`;
