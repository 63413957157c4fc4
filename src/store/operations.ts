import type { OperationItem, OperationRecords, TakenBatch } from '../../activities/operation-records';
import { newId } from '../../core/ids';
import type {
  DeliveryStatus,
  Operation,
  OperationFilter,
  OperationKind,
  OperationStatus,
  RecoverableStatus,
} from '../../core/model';
import { operationWorkflowId } from '../../core/workflow-ids';
import type { Db, Queryable } from './db';
import { decodeCursor, toPage, type Page } from './pagination';
import { writeDeliveries } from './deliveries';
import { matchesEvent } from './subscriptions';
import { andVisible, ownedBy, withVisibleTo, type VisibleTo } from './visibility';

interface OperationRow {
  id: string;
  kind: OperationKind;
  subscription_id: string;
  account_id: string | null;
  status: OperationStatus;
  filter: { since: string; until: string; statuses?: RecoverableStatus[] };
  matched: number;
  done: number;
  cursor: string | null;
  workflow_id: string;
  started_at: Date;
  finished_at: Date | null;
}

const toOperation = (row: OperationRow): Operation => ({
  id: row.id,
  kind: row.kind,
  subscriptionId: row.subscription_id,
  accountId: row.account_id,
  status: row.status,
  filter: {
    since: new Date(row.filter.since),
    until: new Date(row.filter.until),
    ...(row.filter.statuses ? { statuses: row.filter.statuses } : {}),
  },
  matched: row.matched,
  done: row.done,
  workflowId: row.workflow_id,
  startedAt: row.started_at,
  finishedAt: row.finished_at,
});

/** Where a replay's next batch starts: after this event, in (created_at, id) order; created_at as PostgreSQL's text, to the microsecond. */
interface EventPosition {
  readonly at: string;
  readonly id: string;
}

export interface NewOperation {
  readonly kind: OperationKind;
  readonly subscriptionId: string;
  /** The subscription's account: who sees the operation. */
  readonly accountId: string | null;
  readonly filter: OperationFilter;
}

export interface OperationListFilter {
  readonly subscriptionId?: string | undefined;
  readonly status?: OperationStatus | undefined;
  /** Only what this account may see (src/store/visibility.ts). @default everything */
  readonly visibleTo?: VisibleTo;
  readonly cursor?: string | undefined;
  readonly limit: number;
}

interface ItemRow {
  delivery_id: string;
  attempts_before: number;
  status: DeliveryStatus | null;
  attempt_count: number | null;
}

const toItem = (row: ItemRow): OperationItem => ({
  deliveryId: row.delivery_id,
  attemptsBefore: row.attempts_before,
  status: row.status ?? undefined,
  attemptCount: row.attempt_count ?? 0,
});

/** A recover's deliveries: the subscription's ($1), in the statuses ($2), of events created in [$3, $4). */
const RECOVERABLE = `FROM deliveries d JOIN events e ON e.id = d.event_id
  WHERE d.subscription_id = $1 AND d.status = ANY($2::text[]) AND e.created_at >= $3 AND e.created_at < $4`;

/** Events created in [$2, $3) that the subscription ($1) has no delivery for. */
const UNDELIVERED = `FROM events e WHERE e.created_at >= $2 AND e.created_at < $3
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.subscription_id = $1)`;

/** Does the subscription ($3) match events of type $1 and account $2? The one rule, subscriptions.ts's. */
const MATCHES_PAIR = `SELECT EXISTS (SELECT 1 FROM subscriptions WHERE id = $3 AND ${matchesEvent(1, 2)}) AS matches`;

/**
 * Bulk operations and their ledgers (migration 012). Implements the activities' port
 * (activities/operation-records.ts); the API creates, reads and lists.
 */
export class OperationStore implements OperationRecords {
  constructor(private readonly db: Db) {}

  /**
   * Writes a running operation, with the deliveries (recover) or events (replay) its filter
   * matches now counted as `matched`.
   */
  async create(input: NewOperation): Promise<Operation> {
    const id = newId('op');
    const matched = await this.countMatching(this.db, input);
    const rows = await this.db.query<OperationRow>(
      `INSERT INTO operations (id, kind, subscription_id, account_id, filter, matched, workflow_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [
        id,
        input.kind,
        input.subscriptionId,
        input.accountId,
        JSON.stringify({
          since: input.filter.since.toISOString(),
          until: input.filter.until.toISOString(),
          ...(input.filter.statuses ? { statuses: input.filter.statuses } : {}),
        }),
        matched,
        operationWorkflowId(input.kind, id),
      ],
    );
    return toOperation(rows[0] as OperationRow);
  }

  /** Removes an operation whose workflow could not be started. */
  async remove(id: string): Promise<void> {
    await this.db.query('DELETE FROM operations WHERE id = $1', [id]);
  }

  /** The operation, if it exists and the account (when given) may see it. */
  async get(id: string, visibleTo?: VisibleTo): Promise<Operation | undefined> {
    const rows = await this.db.query<OperationRow>(
      `SELECT * FROM operations WHERE id = $1${andVisible(visibleTo, ownedBy, 2)}`,
      withVisibleTo([id], visibleTo),
    );
    return rows[0] && toOperation(rows[0]);
  }

  /** Newest first. */
  async list(filter: OperationListFilter): Promise<Page<Operation>> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: (n: number) => string, value: unknown): void => {
      params.push(value);
      where.push(clause(params.length));
    };
    if (filter.subscriptionId !== undefined) add((n) => `subscription_id = $${n}`, filter.subscriptionId);
    if (filter.status !== undefined) add((n) => `status = $${n}`, filter.status);
    if (filter.visibleTo !== undefined) add(ownedBy, filter.visibleTo);
    const before = decodeCursor(filter.cursor);
    if (before !== undefined) add((n) => `id < $${n}`, before);
    params.push(filter.limit + 1);
    const rows = await this.db.query<OperationRow>(
      `SELECT * FROM operations ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    return toPage(rows.map(toOperation), filter.limit);
  }

  async unfinishedItems(operationId: string, limit: number): Promise<OperationItem[]> {
    const rows = await this.db.query<ItemRow>(
      `SELECT i.delivery_id, i.attempts_before, d.status, d.attempt_count
       FROM operation_items i LEFT JOIN deliveries d ON d.id = i.delivery_id
       WHERE i.operation_id = $1 AND NOT i.done ORDER BY i.delivery_id LIMIT $2`,
      [operationId, limit],
    );
    return rows.map(toItem);
  }

  /**
   * Takes the next batch in one transaction, the operation's row locked, so two batches of one
   * operation never take the same items; the ledger and the cursor move together.
   */
  takeNext(operationId: string, limit: number): Promise<TakenBatch> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<OperationRow>(
        `SELECT * FROM operations WHERE id = $1 AND status = 'running' FOR UPDATE`,
        [operationId],
      );
      const row = rows[0];
      if (!row) return { items: [], exhausted: true };
      return row.kind === 'recover' ? takeRecoverable(tx, row, limit) : takeReplayable(tx, row, limit);
    });
  }

  async markDone(operationId: string, deliveryIds: readonly string[]): Promise<Operation | undefined> {
    const rows = await this.db.query<OperationRow>(
      `WITH marked AS (
         UPDATE operation_items SET done = true
         WHERE operation_id = $1 AND delivery_id = ANY($2::text[]) AND NOT done RETURNING delivery_id
       )
       UPDATE operations SET done = done + (SELECT count(*) FROM marked),
         matched = GREATEST(matched, done + (SELECT count(*) FROM marked))
       WHERE id = $1 RETURNING *`,
      [operationId, deliveryIds],
    );
    return rows[0] && toOperation(rows[0]);
  }

  /** A completed operation has matched what it did: the rest stopped matching meanwhile. */
  async finish(operationId: string, status: Exclude<OperationStatus, 'running'>): Promise<Operation | undefined> {
    return this.db.transaction(async (tx) => {
      const ended = await tx.query<OperationRow>(
        `UPDATE operations SET status = $2, finished_at = now(), cursor = NULL,
           matched = CASE WHEN $2 = 'completed' THEN done ELSE matched END
         WHERE id = $1 AND status = 'running' RETURNING *`,
        [operationId, status],
      );
      if (ended[0]) {
        await tx.query('DELETE FROM operation_items WHERE operation_id = $1', [operationId]);
        return toOperation(ended[0]);
      }
      const rows = await tx.query<OperationRow>('SELECT * FROM operations WHERE id = $1', [operationId]);
      return rows[0] && toOperation(rows[0]);
    });
  }

  private async countMatching(db: Queryable, input: NewOperation): Promise<number> {
    const { since, until } = input.filter;
    if (input.kind === 'recover') {
      const rows = await db.query<{ n: number }>(`SELECT count(*)::int AS n ${RECOVERABLE}`, [
        input.subscriptionId,
        input.filter.statuses ?? [],
        since,
        until,
      ]);
      return rows[0]?.n ?? 0;
    }
    const groups = await db.query<{ type: string; account_id: string | null; n: number }>(
      `SELECT e.type, e.account_id, count(*)::int AS n ${UNDELIVERED} GROUP BY e.type, e.account_id`,
      [input.subscriptionId, since, until],
    );
    const matching = await matchingPairs(db, input.subscriptionId, groups);
    return groups.filter((group) => matching.has(pairKey(group))).reduce((sum, group) => sum + group.n, 0);
  }
}

const pairKey = (event: { type: string; account_id: string | null }): string =>
  JSON.stringify([event.type, event.account_id]);

/** Which of these (event type, account) pairs the subscription matches now, by subscriptions.ts's rule. */
async function matchingPairs(
  db: Queryable,
  subscriptionId: string,
  events: ReadonlyArray<{ type: string; account_id: string | null }>,
): Promise<Set<string>> {
  const pairs = new Map(events.map((event) => [pairKey(event), event]));
  const matching = new Set<string>();
  for (const [key, event] of pairs) {
    const rows = await db.query<{ matches: boolean }>(MATCHES_PAIR, [event.type, event.account_id, subscriptionId]);
    if (rows[0]?.matches) matching.add(key);
  }
  return matching;
}

/** The next deliveries of a recover, by id (creation order), with their attempts now as the ledger keeps them. */
async function takeRecoverable(tx: Queryable, op: OperationRow, limit: number): Promise<TakenBatch> {
  const picked = await tx.query<{ id: string; status: DeliveryStatus; attempt_count: number }>(
    `SELECT d.id, d.status, d.attempt_count ${RECOVERABLE} AND d.id > $5 ORDER BY d.id LIMIT $6`,
    [op.subscription_id, op.filter.statuses ?? [], op.filter.since, op.filter.until, op.cursor ?? '', limit],
  );
  const last = picked[picked.length - 1];
  if (last === undefined) return { items: [], exhausted: true };
  const claimed = await tx.query<{ delivery_id: string }>(
    `INSERT INTO operation_items (operation_id, delivery_id, attempts_before)
     SELECT $1, * FROM unnest($2::text[], $3::int[]) ON CONFLICT DO NOTHING RETURNING delivery_id`,
    [op.id, picked.map((row) => row.id), picked.map((row) => row.attempt_count)],
  );
  await tx.query('UPDATE operations SET cursor = $2 WHERE id = $1', [op.id, last.id]);
  const taken = new Set(claimed.map((row) => row.delivery_id));
  return {
    items: picked
      .filter((row) => taken.has(row.id))
      .map((row) => ({
        deliveryId: row.id,
        attemptsBefore: row.attempt_count,
        status: row.status,
        attemptCount: row.attempt_count,
      })),
    exhausted: picked.length < limit,
  };
}

/**
 * The next events of a replay, oldest first: of up to `limit` events in the window that the
 * subscription has no delivery for, those it matches now get one, written as the event's own
 * deliveries are (an existing one, written meanwhile, is kept).
 */
async function takeReplayable(tx: Queryable, op: OperationRow, limit: number): Promise<TakenBatch> {
  const after = op.cursor === null ? undefined : (JSON.parse(op.cursor) as EventPosition);
  const events = await tx.query<{ id: string; type: string; account_id: string | null; at: string }>(
    `SELECT e.id, e.type, e.account_id, e.created_at::text AS at ${UNDELIVERED}
       ${after ? 'AND (e.created_at, e.id) > ($4::timestamptz, $5)' : ''}
     ORDER BY e.created_at, e.id LIMIT $${after ? 6 : 4}`,
    [op.subscription_id, op.filter.since, op.filter.until, ...(after ? [after.at, after.id] : []), limit],
  );
  const last = events[events.length - 1];
  if (last === undefined) return { items: [], exhausted: true };
  await tx.query('UPDATE operations SET cursor = $2 WHERE id = $1', [
    op.id,
    JSON.stringify({ at: last.at, id: last.id } satisfies EventPosition),
  ]);
  const exhausted = events.length < limit;
  const matching = await matchingPairs(tx, op.subscription_id, events);
  const wanted = events.filter((event) => matching.has(pairKey(event)));
  const subscription = (
    await tx.query<{ url: string }>('SELECT url FROM subscriptions WHERE id = $1', [op.subscription_id])
  )[0];
  if (wanted.length === 0 || subscription === undefined) return { items: [], exhausted };
  // Ids made in this order sort in it: the deliveries are started oldest first.
  const ids = wanted.map(() => newId('dlv'));
  const writtenIds = await writeDeliveries(
    tx,
    wanted.map((event, i) => ({
      deliveryId: ids[i] as string,
      eventId: event.id,
      eventType: event.type,
      subscriptionId: op.subscription_id,
      accountId: event.account_id,
      url: subscription.url,
    })),
  );
  const items = ids.filter((id) => writtenIds.has(id));
  await tx.query(
    `INSERT INTO operation_items (operation_id, delivery_id, attempts_before) SELECT $1, unnest($2::text[]), 0`,
    [op.id, items],
  );
  return {
    items: items.map((deliveryId) => ({ deliveryId, attemptsBefore: 0, status: 'pending', attemptCount: 0 })),
    exhausted,
  };
}
