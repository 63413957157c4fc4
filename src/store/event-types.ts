import type { EventType } from '../domain/model';
import type { Queryable } from './db';

interface EventTypeRow {
  id: string;
  description: string;
  created_at: Date;
}

const toEventType = (row: EventTypeRow): EventType => ({
  id: row.id,
  description: row.description,
  createdAt: row.created_at,
});

export class EventTypeStore {
  constructor(private readonly db: Queryable) {}

  /** Undefined when the id is taken. */
  async create(input: { id: string; description: string }): Promise<EventType | undefined> {
    const rows = await this.db.query<EventTypeRow>(
      'INSERT INTO event_types (id, description) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING *',
      [input.id, input.description],
    );
    return rows[0] && toEventType(rows[0]);
  }

  async list(): Promise<EventType[]> {
    const rows = await this.db.query<EventTypeRow>('SELECT * FROM event_types ORDER BY id');
    return rows.map(toEventType);
  }

  /** The ids among `ids` that are not registered. */
  async unknown(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.query<{ id: string }>('SELECT id FROM event_types WHERE id = ANY($1::text[])', [ids]);
    const known = new Set(rows.map((row) => row.id));
    return ids.filter((id) => !known.has(id));
  }
}
