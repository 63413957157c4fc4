/**
 * A large fan-out's deliveries are written after the event is accepted, in chunks, by the
 * dispatcher (or by the outbox relay when the process that accepted it died half-way).
 * `expansion_cursor` tracks how far that got: NULL once every delivery row is written (always
 * so for events with at most INLINE_FANOUT_LIMIT subscribers, written with the event), '' when
 * none is yet, else the id of the last subscription whose delivery is written.
 */
export const sql = `
ALTER TABLE events ADD COLUMN expansion_cursor text;
`;
