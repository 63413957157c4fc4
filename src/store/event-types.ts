import type { EventType } from '../../core/model';
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

/** Most event type ids remembered as registered; beyond it, lookups go to the database. */
const KNOWN_CACHE_LIMIT = 10_000;

export class EventTypeStore {
  /**
   * Ids known to be registered. Event types are never deleted, so once seen an id stays valid:
   * ingesting an event then needs no query to check its type.
   */
  private readonly known = new Set<string>();

  constructor(private readonly db: Queryable) {}

  private remember(id: string): void {
    if (this.known.size < KNOWN_CACHE_LIMIT) this.known.add(id);
  }

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
    const unsure = ids.filter((id) => !this.known.has(id));
    if (unsure.length === 0) return [];
    const rows = await this.db.query<{ id: string }>('SELECT id FROM event_types WHERE id = ANY($1::text[])', [unsure]);
    const found = new Set(rows.map((row) => row.id));
    for (const id of found) this.remember(id);
    return unsure.filter((id) => !found.has(id));
  }
}
