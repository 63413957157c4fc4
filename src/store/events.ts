import { DELIVERY_STATUSES, type DeliveryPlan, type DeliveryStatus, type WebhookEvent } from '../domain/model';
import { newId } from '../domain/ids';
import { ConflictError } from '../errors';
import { deliveryWorkflowId } from '../temporal/ids';
import { withDefaults, type DeliveryRetryPolicy } from '../../workflows/policy';
import type { Db, Queryable } from './db';
import { PLAN_SELECT, toPlan, visibleToAccount, type PlanRow } from './deliveries';

interface EventRow {
  id: string;
  type: string;
  account_id: string | null;
  data: unknown;
  callback_url: string | null;
  fingerprint: string;
  created_at: Date;
}

const EVENT_COLUMNS = 'id, type, account_id, data, callback_url, fingerprint, created_at';

const toEvent = (row: EventRow): WebhookEvent => ({
  id: row.id,
  type: row.type,
  accountId: row.account_id,
  data: row.data,
  callbackUrl: row.callback_url,
  createdAt: row.created_at,
});

export interface NewEvent {
  readonly id: string;
  readonly type: string;
  readonly accountId: string | null;
  readonly data: unknown;
  readonly callbackUrl: string | null;
  /** Signs the one-off callback delivery; null without a callbackUrl. */
  readonly callbackSecret: string | null;
  /** Hash of the request, to tell a retry of the same event from a different one under the same id. */
  readonly fingerprint: string;
}

export interface Ingested {
  readonly event: WebhookEvent;
  /** False when the id was already taken by the same event: nothing new was written. */
  readonly created: boolean;
  readonly deliveryCount: number;
  /** The deliveries this call created, to start now. */
  readonly plans: DeliveryPlan[];
}

export type DeliveryCounts = Record<DeliveryStatus | 'total', number>;

interface MatchRow {
  id: string;
  url: string;
  retry_policy: Partial<DeliveryRetryPolicy>;
}

export class EventStore {
  constructor(private readonly db: Db) {}

  /**
   * Writes the event and one pending delivery per matching active subscription (plus one to its
   * callbackUrl) in a single transaction, and claims the dispatch for `claimMs`: once this
   * resolves, no delivery can be lost, and the relay dispatches it if this process cannot.
   */
  ingest(input: NewEvent, claimMs: number): Promise<Ingested> {
    return this.db.transaction(async (tx) => {
      const inserted = await tx.query<EventRow>(
        `INSERT INTO events (id, type, account_id, data, callback_url, callback_secret, fingerprint, dispatch_claimed_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8 * interval '1 millisecond')
         ON CONFLICT (id) DO NOTHING RETURNING ${EVENT_COLUMNS}`,
        [input.id, input.type, input.accountId, JSON.stringify(input.data), input.callbackUrl, input.callbackSecret, input.fingerprint, claimMs],
      );
      const row = inserted[0];
      if (!row) return this.replay(tx, input);
      const event = toEvent(row);
      const plans = await insertDeliveries(tx, event);
      // Nothing to start: the outbox entry is done as soon as it is written.
      if (plans.length === 0) await tx.query('UPDATE events SET dispatched_at = now(), dispatch_claimed_until = NULL WHERE id = $1', [event.id]);
      return { event, created: true, deliveryCount: plans.length, plans };
    });
  }

  private async replay(tx: Queryable, input: NewEvent): Promise<Ingested> {
    const rows = await tx.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1`, [input.id]);
    const existing = rows[0] as EventRow;
    if (existing.fingerprint !== input.fingerprint) {
      throw new ConflictError(`event '${input.id}' already exists with a different body`, [
        { path: 'id', message: 'was already used for a different event' },
      ]);
    }
    const counted = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM deliveries WHERE event_id = $1', [input.id]);
    return { event: toEvent(existing), created: false, deliveryCount: counted[0]?.n ?? 0, plans: [] };
  }

  async get(id: string): Promise<WebhookEvent | undefined> {
    const rows = await this.db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1`, [id]);
    return rows[0] && toEvent(rows[0]);
  }

  /** Counts by status; with `visibleTo`, only the deliveries that account may see. */
  async deliveryCounts(eventId: string, visibleTo?: string): Promise<DeliveryCounts> {
    const rows = await this.db.query<{ status: DeliveryStatus; n: number }>(
      `SELECT status, count(*)::int AS n FROM deliveries WHERE event_id = $1 ${visibleTo !== undefined ? `AND ${visibleToAccount(2)}` : ''} GROUP BY status`,
      visibleTo !== undefined ? [eventId, visibleTo] : [eventId],
    );
    const counts = Object.fromEntries([...DELIVERY_STATUSES, 'total'].map((status) => [status, 0])) as DeliveryCounts;
    for (const row of rows) {
      counts[row.status] = row.n;
      counts.total += row.n;
    }
    return counts;
  }

  /** Ids of undispatched events whose claim has lapsed, now claimed by the caller for `claimMs`. */
  async claimUndispatched(limit: number, claimMs: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `UPDATE events SET dispatch_claimed_until = now() + $2 * interval '1 millisecond'
       WHERE id IN (
         SELECT id FROM events
         WHERE dispatched_at IS NULL AND (dispatch_claimed_until IS NULL OR dispatch_claimed_until < now())
         ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      [limit, claimMs],
    );
    return rows.map((row) => row.id);
  }

  /** The deliveries of an event still pending, to (re)start. */
  async pendingPlans(eventId: string): Promise<DeliveryPlan[]> {
    const rows = await this.db.query<PlanRow>(`${PLAN_SELECT} WHERE d.event_id = $1 AND d.status = 'pending' ORDER BY d.id`, [eventId]);
    return rows.map(toPlan);
  }

  async markDispatched(eventId: string): Promise<void> {
    await this.db.query('UPDATE events SET dispatched_at = now(), dispatch_claimed_until = NULL WHERE id = $1', [eventId]);
  }

  /** Gives a failed dispatch back to the relay, to be retried after `delayMs`. */
  async releaseClaim(eventId: string, delayMs: number): Promise<void> {
    await this.db.query(
      `UPDATE events SET dispatch_claimed_until = now() + $2 * interval '1 millisecond' WHERE id = $1 AND dispatched_at IS NULL`,
      [eventId, delayMs],
    );
  }
}

/** One delivery per active subscription that matches the event's type and account. */
async function insertDeliveries(tx: Queryable, event: WebhookEvent): Promise<DeliveryPlan[]> {
  const matches = await tx.query<MatchRow>(
    `SELECT id, url, retry_policy FROM subscriptions
     WHERE active AND (event_types @> ARRAY[$1]::text[] OR event_types @> ARRAY['*'])
       AND (account_id IS NULL OR account_id = $2)
     ORDER BY id`,
    [event.type, event.accountId],
  );
  const targets = matches.map((match) => ({ subscriptionId: match.id as string | null, url: match.url, policy: match.retry_policy }));
  if (event.callbackUrl) targets.push({ subscriptionId: null, url: event.callbackUrl, policy: {} });
  if (targets.length === 0) return [];
  const plans = targets.map(
    (target): DeliveryPlan => ({
      deliveryId: newId('dlv'),
      eventId: event.id,
      eventType: event.type,
      subscriptionId: target.subscriptionId,
      accountId: event.accountId,
      url: target.url,
      retryPolicy: withDefaults(target.policy),
    }),
  );
  await tx.query(
    `INSERT INTO deliveries (id, event_id, event_type, subscription_id, account_id, url, workflow_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
    [
      plans.map((plan) => plan.deliveryId),
      plans.map(() => event.id),
      plans.map(() => event.type),
      plans.map((plan) => plan.subscriptionId),
      plans.map(() => event.accountId),
      plans.map((plan) => plan.url),
      plans.map((plan) => deliveryWorkflowId(plan.eventId, plan.subscriptionId)),
    ],
  );
  return plans;
}
