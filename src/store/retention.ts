import type {
  PurgeBatchInput,
  PurgeBatchResult,
  RemovedCounts,
  RetentionCursor,
  RetentionRecords,
  RetentionTable,
} from '../../activities/retention';
import type { Db, Queryable } from './db';

/** A row a batch looked at: its place in the walk, and whether it may go. */
interface ScannedRow {
  id: string;
  created_at: string;
  expired: boolean;
}

/**
 * Per table: which rows may go (SQL over the row, aliased `t`; $1 is the cutoff), and what goes with
 * them. A delivery goes once ended and unchanged since the cutoff (a resent one is kept as long as
 * from its resend); an event once the outbox is done with it and no delivery of it is left, so
 * neither a pending delivery nor its event, nor the event of any delivery kept, ever goes.
 */
const EXPIRED: Record<RetentionTable, string> = {
  deliveries: `t.status <> 'pending' AND t.updated_at < $1`,
  events: `t.dispatched_at IS NOT NULL AND t.expansion_cursor IS NULL
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = t.id)`,
};

/** The first batch starts before every row. */
const START: RetentionCursor = { createdAt: '-infinity', id: '' };

/** Removes expired events, deliveries and attempts (WEBHOOKS_RETENTION), a batch at a time. */
export class RetentionStore implements RetentionRecords {
  constructor(private readonly db: Db) {}

  purgeBatch(input: PurgeBatchInput): Promise<PurgeBatchResult> {
    return this.db.transaction(async (tx) => {
      const after = input.after ?? START;
      // Oldest first along (created_at, id) from the cursor: a range of the index of migration 011.
      const scanned = await tx.query<ScannedRow>(
        `SELECT t.id, t.created_at::text AS created_at, (${EXPIRED[input.table]}) AS expired
         FROM ${input.table} t
         WHERE t.created_at < $1 AND (t.created_at, t.id) > ($2::timestamptz, $3)
         ORDER BY t.created_at, t.id LIMIT $4`,
        [input.cutoff, after.createdAt, after.id, input.limit],
      );
      const last = scanned[scanned.length - 1];
      const next = last && scanned.length === input.limit ? { createdAt: last.created_at, id: last.id } : null;
      const candidates = scanned.filter((row) => row.expired).map((row) => row.id);
      const doomed = candidates.length === 0 ? [] : await lockExpired(tx, input.table, input.cutoff, candidates);
      const removed =
        input.table === 'deliveries' ? await removeDeliveries(tx, doomed) : await removeEvents(tx, doomed);
      return { scanned: scanned.length, removed, next };
    });
  }

  async reclaimSpace(): Promise<void> {
    // Outside a transaction (VACUUM cannot run in one); ANALYZE keeps the planner's counts current.
    await this.db.exec('VACUUM (ANALYZE) attempts, deliveries, events');
  }
}

/**
 * The candidates that still may go, locked: one that changed since it was looked at (a resend made
 * it pending, a replay gave its event a delivery) no longer matches, and one another transaction
 * holds is skipped.
 */
async function lockExpired(
  tx: Queryable,
  table: RetentionTable,
  cutoff: string,
  ids: readonly string[],
): Promise<string[]> {
  const rows = await tx.query<{ id: string }>(
    `SELECT t.id FROM ${table} t
     WHERE t.id = ANY($2::text[]) AND t.created_at < $1 AND ${EXPIRED[table]} FOR UPDATE SKIP LOCKED`,
    [cutoff, ids],
  );
  return rows.map((row) => row.id);
}

const NOTHING_REMOVED = { events: 0, deliveries: 0, attempts: 0 } as const;

/** Deletes rows of `table` by id; returns how many went. */
async function deleteByIds(tx: Queryable, table: 'attempts' | RetentionTable, ids: readonly string[]): Promise<number> {
  const column = table === 'attempts' ? 'delivery_id' : 'id';
  const rows = await tx.query<{ n: number }>(
    `WITH gone AS (DELETE FROM ${table} WHERE ${column} = ANY($1::text[]) RETURNING 1) SELECT count(*)::int AS n FROM gone`,
    [ids],
  );
  return rows[0]?.n ?? 0;
}

/** The deliveries and their attempts (attempts first: they reference their delivery). */
async function removeDeliveries(tx: Queryable, ids: readonly string[]): Promise<RemovedCounts> {
  if (ids.length === 0) return NOTHING_REMOVED;
  const attempts = await deleteByIds(tx, 'attempts', ids);
  return { events: 0, deliveries: await deleteByIds(tx, 'deliveries', ids), attempts };
}

async function removeEvents(tx: Queryable, ids: readonly string[]): Promise<RemovedCounts> {
  if (ids.length === 0) return NOTHING_REMOVED;
  return { events: await deleteByIds(tx, 'events', ids), deliveries: 0, attempts: 0 };
}
