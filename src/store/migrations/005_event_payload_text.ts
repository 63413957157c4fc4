/**
 * An event's `data` as the producer wrote it, and its first answer's delivery count.
 *
 * `data_json` is the JSON text of `data` exactly as it arrived (every key, `__proto__` included;
 * numbers as written, 12345678901234567890 and -0 alike; the producer's Unicode and escapes):
 * deliveries sign and send it verbatim and GET /v1/events/:id returns it. NULL for events stored
 * before it existed, which keep being delivered as `data` re-serialised, as they always were.
 * `data` (jsonb) is still written from the same text, so a process of an earlier version that
 * reads an event during a rolling upgrade delivers what it always did.
 *
 * `delivery_count` is the deliveryCount of the 202 that created the event, so that posting the
 * same event again answers exactly the same (a large fan-out's deliveries are written later, and
 * counting them would answer differently while they are). NULL for earlier events: counted.
 */
export const sql = `
ALTER TABLE events ADD COLUMN data_json text;
ALTER TABLE events ADD COLUMN delivery_count integer;
`;
