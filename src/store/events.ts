import { DELIVERY_STATUSES, type DeliveryPlan, type DeliveryStatus, type WebhookEvent } from '../../core/model';
import { deliveryWorkflowId, newId } from '../../core/ids';
import { ConflictError } from '../errors';
import { withDefaults, type DeliveryRetryPolicy } from '../../core/retry-policy';
import type { Db, Queryable } from './db';
import { PLAN_SELECT, toPlan, type PlanRow } from './deliveries';
import { matchesEvent } from './subscriptions';
import { andVisible, deliveryVisibleTo, ownedBy, withVisibleTo, type VisibleTo } from './visibility';

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
  /**
   * True for a fan-out larger than INLINE_FANOUT_LIMIT: only the event (and its callback
   * delivery) was written; the dispatcher writes the rest with `expandNext`.
   */
  readonly expanding: boolean;
}

/**
 * Deliveries written in the event's own transaction, before the 202. Above this, the answer
 * would wait on thousands of rows (a second for 10,000 on PGlite): the event alone is written,
 * and its deliveries follow in chunks of FANOUT_CHUNK.
 */
export const INLINE_FANOUT_LIMIT = 100;

/** Deliveries written per transaction while a large fan-out is expanded. */
export const FANOUT_CHUNK = 500;

/** Active subscriptions matching the event type ($1) and account ($2). */
const MATCHES = matchesEvent(1, 2);

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
        [
          input.id,
          input.type,
          input.accountId,
          JSON.stringify(input.data),
          input.callbackUrl,
          input.callbackSecret,
          input.fingerprint,
          claimMs,
        ],
      );
      const row = inserted[0];
      if (!row) return this.ingestedBefore(tx, input);
      const event = toEvent(row);
      const matches = await tx.query<MatchRow>(
        `SELECT id, url, retry_policy FROM subscriptions WHERE ${MATCHES} ORDER BY id LIMIT $3`,
        [event.type, event.accountId, INLINE_FANOUT_LIMIT + 1],
      );
      if (matches.length > INLINE_FANOUT_LIMIT) {
        // A large fan-out: the event row is the outbox entry of its deliveries, written later.
        const counted = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM subscriptions WHERE ${MATCHES}`, [
          event.type,
          event.accountId,
        ]);
        await tx.query(`UPDATE events SET expansion_cursor = '' WHERE id = $1`, [event.id]);
        const plans = await insertDeliveries(tx, event, []);
        return { event, created: true, deliveryCount: (counted[0]?.n ?? 0) + plans.length, plans, expanding: true };
      }
      const plans = await insertDeliveries(tx, event, matches);
      // Nothing to start: the outbox entry is done as soon as it is written.
      if (plans.length === 0)
        await tx.query('UPDATE events SET dispatched_at = now(), dispatch_claimed_until = NULL WHERE id = $1', [
          event.id,
        ]);
      return { event, created: true, deliveryCount: plans.length, plans, expanding: false };
    });
  }

  /**
   * Writes the next chunk of a large fan-out's deliveries and returns them, to start; null once
   * every delivery is written. Each call also renews the caller's claim on the dispatch for
   * `claimMs`. Subscriptions created after the event are left out, as they would have been had
   * the deliveries been written with it.
   */
  expandNext(eventId: string, claimMs: number, limit = FANOUT_CHUNK): Promise<DeliveryPlan[] | null> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<EventRow & { expansion_cursor: string | null }>(
        `SELECT ${EVENT_COLUMNS}, expansion_cursor FROM events WHERE id = $1 FOR UPDATE`,
        [eventId],
      );
      const row = rows[0];
      if (!row || row.expansion_cursor === null) return null;
      const event = toEvent(row);
      const matches = await tx.query<MatchRow>(
        `SELECT id, url, retry_policy FROM subscriptions WHERE ${MATCHES} AND id > $3 AND created_at <= $4 ORDER BY id LIMIT $5`,
        [event.type, event.accountId, row.expansion_cursor, row.created_at, limit],
      );
      const cursor = matches.length < limit ? null : (matches[matches.length - 1] as MatchRow).id;
      await tx.query(
        `UPDATE events SET expansion_cursor = $2, dispatch_claimed_until = now() + $3 * interval '1 millisecond' WHERE id = $1`,
        [eventId, cursor, claimMs],
      );
      // The callback delivery, if any, was written with the event.
      return insertDeliveries(tx, { ...event, callbackUrl: null }, matches);
    });
  }

  /** The answer for an id ingested before: the same event again (nothing written), or a conflict. */
  private async ingestedBefore(tx: Queryable, input: NewEvent): Promise<Ingested> {
    const rows = await tx.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1`, [input.id]);
    const existing = rows[0] as EventRow;
    if (existing.fingerprint !== input.fingerprint) {
      throw new ConflictError(`event '${input.id}' already exists with a different body`, [
        { path: 'id', message: 'was already used for a different event' },
      ]);
    }
    const counted = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM deliveries WHERE event_id = $1', [
      input.id,
    ]);
    return { event: toEvent(existing), created: false, deliveryCount: counted[0]?.n ?? 0, plans: [], expanding: false };
  }

  /** The event, if it exists and the account (when given) may see it. */
  async get(id: string, visibleTo?: VisibleTo): Promise<WebhookEvent | undefined> {
    const rows = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE id = $1${andVisible(visibleTo, ownedBy, 2)}`,
      withVisibleTo([id], visibleTo),
    );
    return rows[0] && toEvent(rows[0]);
  }

  /** Counts by status; with `visibleTo`, only the deliveries that account may see. */
  async deliveryCounts(eventId: string, visibleTo?: VisibleTo): Promise<DeliveryCounts> {
    const rows = await this.db.query<{ status: DeliveryStatus; n: number }>(
      `SELECT status, count(*)::int AS n FROM deliveries
       WHERE event_id = $1${andVisible(visibleTo, deliveryVisibleTo, 2)} GROUP BY status`,
      withVisibleTo([eventId], visibleTo),
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
         WHERE dispatched_at IS NULL AND (dispatch_claimed_until IS NULL OR dispatch_claimed_until <= now())
         ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      [limit, claimMs],
    );
    return rows.map((row) => row.id);
  }

  /** The deliveries of an event still pending, to (re)start. */
  async pendingPlans(eventId: string): Promise<DeliveryPlan[]> {
    const rows = await this.db.query<PlanRow>(
      `${PLAN_SELECT} WHERE d.event_id = $1 AND d.status = 'pending' ORDER BY d.id`,
      [eventId],
    );
    return rows.map(toPlan);
  }

  async markDispatched(eventId: string): Promise<void> {
    await this.db.query('UPDATE events SET dispatched_at = now(), dispatch_claimed_until = NULL WHERE id = $1', [
      eventId,
    ]);
  }

  /** Gives a failed dispatch back to the relay, to be retried after `delayMs`. */
  async releaseClaim(eventId: string, delayMs: number): Promise<void> {
    await this.db.query(
      `UPDATE events SET dispatch_claimed_until = now() + $2 * interval '1 millisecond' WHERE id = $1 AND dispatched_at IS NULL`,
      [eventId, delayMs],
    );
  }
}

/**
 * One delivery per matched subscription (plus one to the event's callbackUrl); a delivery that
 * already exists (an expansion resumed after a crash) is skipped.
 */
async function insertDeliveries(
  tx: Queryable,
  event: WebhookEvent,
  matches: readonly MatchRow[],
): Promise<DeliveryPlan[]> {
  const targets = matches.map((match) => ({
    subscriptionId: match.id as string | null,
    url: match.url,
    policy: match.retry_policy,
  }));
  if (event.callbackUrl) targets.push({ subscriptionId: null, url: event.callbackUrl, policy: {} });
  if (targets.length === 0) return [];
  const plans = targets.map((target): DeliveryPlan => ({
    deliveryId: newId('dlv'),
    eventId: event.id,
    eventType: event.type,
    subscriptionId: target.subscriptionId,
    accountId: event.accountId,
    url: target.url,
    retryPolicy: withDefaults(target.policy),
  }));
  const inserted = await tx.query<{ id: string }>(
    `INSERT INTO deliveries (id, event_id, event_type, subscription_id, account_id, url, workflow_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
     ON CONFLICT (workflow_id) DO NOTHING RETURNING id`,
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
  if (inserted.length === plans.length) return plans;
  const written = new Set(inserted.map((row) => row.id));
  return plans.filter((plan) => written.has(plan.deliveryId));
}
