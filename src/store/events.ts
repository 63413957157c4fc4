import { DELIVERY_STATUSES, type DeliveryPlan, type DeliveryStatus, type WebhookEvent } from '../../core/model';
import { newId } from '../../core/ids';
import { ConflictError, ValidationError } from '../errors';
import { withDefaults, type DeliveryRetryPolicy } from '../../core/retry-policy';
import type { Db, Queryable } from './db';
import { deliveriesInsert, PLAN_SELECT, toPlan, writeDeliveries, type PlanRow } from './deliveries';
import { matchesEvent } from './subscriptions';
import { andVisible, deliveryVisibleTo, ownedBy, withVisibleTo, type VisibleTo } from './visibility';
import { SECRET_OWNER, type KeyRing } from './secret-box';
import { Batcher, eachAlone } from '../util/batcher';

interface EventRow {
  id: string;
  type: string;
  account_id: string | null;
  /** Read only when data_json is NULL (events stored before it): the text is what counts. */
  data: unknown;
  data_json: string | null;
  callback_url: string | null;
  fingerprint: string;
  created_at: Date;
}

/**
 * Columns of an event read back. `data` (jsonb) is read only for events that have no `data_json`:
 * a number such as 1e131071 takes 10 bytes as text and 128 KiB as jsonb's text output.
 */
const EVENT_COLUMNS =
  'id, type, account_id, CASE WHEN data_json IS NULL THEN data END AS data, data_json, callback_url, fingerprint, created_at';

const toEvent = (row: EventRow): WebhookEvent => ({
  id: row.id,
  type: row.type,
  accountId: row.account_id,
  data: row.data_json === null ? row.data : undefined,
  ...(row.data_json !== null ? { dataJson: row.data_json } : {}),
  callbackUrl: row.callback_url,
  createdAt: row.created_at,
});

/** The JSON text of an event's data: as sent, or (events stored before the text was kept) re-serialised. */
export const dataJsonOf = (event: WebhookEvent): string => event.dataJson ?? JSON.stringify(event.data ?? null);

export interface NewEvent {
  readonly id: string;
  readonly type: string;
  readonly accountId: string | null;
  /** The payload; with `dataJson`, only that text is stored (this is then not read). */
  readonly data: unknown;
  /** `data` as the producer's JSON text, stored and delivered verbatim. @default JSON.stringify(data) */
  readonly dataJson?: string;
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
  /** The deliveries the event was accepted with (the same when it is posted again). */
  readonly deliveryCount: number;
  /** The secret of the callback delivery, the same however often the event is posted; null without one. */
  readonly callbackSecret: string | null;
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

/** PostgreSQL's numeric_value_out_of_range. */
const NUMERIC_OUT_OF_RANGE = '22003';

/** Active subscriptions matching the event type ($1) and account ($2). */
const MATCHES = matchesEvent(1, 2);

/** An event the relay claimed; `expanding`: a large fan-out whose deliveries are not all written yet. */
export interface ClaimedEvent {
  readonly id: string;
  readonly expanding: boolean;
}

export type DeliveryCounts = Record<DeliveryStatus | 'total', number>;

interface MatchRow {
  id: string;
  url: string;
  retry_policy: Partial<DeliveryRetryPolicy>;
  throttle_rate: number | null;
}

/** Events accepted together (producers posting at once) are read for and written in one statement each, at most this many. */
const INGEST_BATCH = 100;

/** Whose subscriptions an event reaches: its type and account. */
interface MatchKey {
  readonly type: string;
  readonly accountId: string | null;
}

/** An event ready to be written: its deliveries planned, its count known. */
interface EventWrite {
  readonly input: NewEvent;
  readonly planned: readonly DeliveryPlan[];
  readonly deliveryCount: number;
  readonly expanding: boolean;
  readonly claimMs: number;
}

/** An event as written, with the ids of the deliveries written with it; null when its id was taken. */
type WrittenEvent = (EventRow & { written: string[] }) | null;

export class EventStore {
  /** The subscriptions events accepted together match, read in one statement. */
  private readonly matchReads: Batcher<MatchKey, MatchRow[]>;
  /** Events accepted together, written with their deliveries in one statement. */
  private readonly eventWrites: Batcher<EventWrite, WrittenEvent>;

  constructor(
    private readonly db: Db,
    /** Seals and opens the callback secrets. */
    private readonly keyRing: KeyRing,
  ) {
    this.matchReads = new Batcher((keys) => this.readMatches(keys), INGEST_BATCH);
    this.eventWrites = new Batcher((events) => this.writeEvents(events), INGEST_BATCH);
  }

  /**
   * Writes the event and one pending delivery per matching active subscription (plus one to its
   * callbackUrl) in a single statement, and claims the dispatch for `claimMs`: once this
   * resolves, no delivery can be lost, and the relay dispatches it if this process cannot.
   */
  async ingest(input: NewEvent, claimMs: number): Promise<Ingested> {
    try {
      return await this.ingestWith(input, claimMs);
    } catch (error) {
      // jsonb holds numbers up to 131072 digits before the point and 16383 after; the text has no such limit.
      if ((error as { code?: unknown }).code === NUMERIC_OUT_OF_RANGE) {
        throw new ValidationError('invalid request body', [
          {
            path: 'data',
            message: 'holds a number with more digits than the store keeps (131072 before the point, 16383 after)',
          },
        ]);
      }
      throw error;
    }
  }

  /**
   * Two statements, no transaction: the matching subscriptions are read, then the event and its
   * deliveries are written by one statement, which is atomic by itself; each statement serves
   * the events accepted at the same time. A large fan-out writes the event (and its callback
   * delivery) alone, with its expansion to do.
   */
  private async ingestWith(input: NewEvent, claimMs: number): Promise<Ingested> {
    const matches = await this.matchReads.add({ type: input.type, accountId: input.accountId });
    const expanding = matches.length > INLINE_FANOUT_LIMIT;
    const planned = planDeliveries(input, expanding ? [] : matches);
    let deliveryCount = planned.length;
    if (expanding) {
      const counted = await this.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM subscriptions WHERE ${MATCHES}`,
        [input.type, input.accountId],
      );
      deliveryCount += counted[0]?.n ?? 0;
    }
    const row = await this.eventWrites.add({ input, planned, deliveryCount, expanding, claimMs });
    if (!row) return this.ingestedBefore(this.db, input);
    const written = new Set(row.written);
    const plans = planned.filter((plan) => written.has(plan.deliveryId));
    if (plans.length < planned.length) {
      // Some existed already (left by an event of the same id that was removed): count what this one has.
      deliveryCount -= planned.length - plans.length;
      await this.db.query('UPDATE events SET delivery_count = $2 WHERE id = $1', [input.id, deliveryCount]);
    }
    return {
      event: toEvent(row),
      created: true,
      deliveryCount,
      callbackSecret: input.callbackSecret,
      plans,
      expanding,
    };
  }

  /**
   * The active subscriptions each (type, account) matches, by id, at most INLINE_FANOUT_LIMIT + 1
   * (enough to tell a large fan-out), one statement for all.
   */
  private async readMatches(keys: readonly MatchKey[]): Promise<MatchRow[][]> {
    const keyOf = (key: MatchKey) => JSON.stringify([key.type, key.accountId]);
    const distinct = [...new Map(keys.map((key) => [keyOf(key), key])).values()];
    const rows = await this.db.query<MatchRow & { ord: number }>(
      `SELECT k.ord::int AS ord, m.* FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(type, account_id, ord)
       CROSS JOIN LATERAL (
         SELECT id, url, retry_policy, throttle_rate FROM subscriptions
         WHERE ${matchesEvent('k.type', 'k.account_id')} ORDER BY id LIMIT $3) m
       ORDER BY k.ord, m.id`,
      [distinct.map((key) => key.type), distinct.map((key) => key.accountId), INLINE_FANOUT_LIMIT + 1],
    );
    const byKey = new Map<string, MatchRow[]>(distinct.map((key) => [keyOf(key), []]));
    for (const { ord, ...match } of rows) {
      const key = distinct[ord - 1];
      if (key) byKey.get(keyOf(key))?.push(match);
    }
    return keys.map((key) => byKey.get(keyOf(key)) ?? []);
  }

  /**
   * Writes events, each with its deliveries, in one statement (see insertEvents). An id named
   * twice goes in a later statement, so that the first is the one written and the second finds
   * it. A statement the store refuses (a number too large for jsonb, say) is run again for each
   * event alone, so that a bad event fails by itself.
   */
  private async writeEvents(events: readonly EventWrite[]): Promise<(WrittenEvent | Promise<WrittenEvent>)[]> {
    const results: (WrittenEvent | Promise<WrittenEvent>)[] = [];
    for (const round of roundsOfDistinctIds(events)) {
      try {
        const written = await this.insertEvents(round.map((i) => events[i] as EventWrite));
        for (const i of round) results[i] = written.get((events[i] as EventWrite).input.id) ?? null;
      } catch {
        const alone = await eachAlone(round, async (i) => {
          const event = events[i] as EventWrite;
          return (await this.insertEvents([event])).get(event.input.id) ?? null;
        });
        round.forEach((i, k) => (results[i] = alone[k] as Promise<WrittenEvent>));
      }
    }
    return results;
  }

  /**
   * The INSERT of events (ids distinct) and their planned deliveries: an event whose id is taken
   * is left out with its deliveries. Each event claims its dispatch for its `claimMs`; one with
   * nothing to start leaves the outbox as it is written. Returns the events written, by id.
   */
  private async insertEvents(events: readonly EventWrite[]): Promise<Map<string, NonNullable<WrittenEvent>>> {
    const column = <T>(pick: (event: EventWrite) => T): T[] => events.map(pick);
    const deliveries = deliveriesInsert(
      events.flatMap((event) => event.planned),
      12,
      'u.event_id IN (SELECT id FROM inserted)',
    );
    const rows = await this.db.query<NonNullable<WrittenEvent>>(
      `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::text[], $9::int[], $10::text[], $11::float8[])
           WITH ORDINALITY AS u(id, type, account_id, data, data_json, callback_url, callback_secret, fingerprint,
                                delivery_count, expansion_cursor, claim_ms, ord)
       ), inserted AS (
         INSERT INTO events (id, type, account_id, data, data_json, callback_url, callback_secret, fingerprint,
                             delivery_count, expansion_cursor, dispatch_claimed_until, dispatched_at)
         SELECT id, type, account_id, data::jsonb, data_json, callback_url, callback_secret, fingerprint,
                delivery_count, expansion_cursor,
                CASE WHEN delivery_count > 0 THEN now() + claim_ms * interval '1 millisecond' END,
                -- Nothing to start: the outbox entry is done as soon as it is written.
                CASE WHEN delivery_count = 0 THEN now() END
         FROM input ORDER BY ord
         ON CONFLICT (id) DO NOTHING RETURNING ${EVENT_COLUMNS}
       ), written AS (${deliveries.sql})
       SELECT inserted.*, ARRAY(SELECT w.id FROM written w WHERE w.event_id = inserted.id) AS written FROM inserted`,
      [
        column((e) => e.input.id),
        column((e) => e.input.type),
        column((e) => e.input.accountId),
        column((e) => e.input.dataJson ?? JSON.stringify(e.input.data)),
        column((e) => e.input.dataJson ?? null),
        column((e) => e.input.callbackUrl),
        column((e) =>
          e.input.callbackSecret === null
            ? null
            : this.keyRing.seal(e.input.callbackSecret, SECRET_OWNER.event(e.input.id)),
        ),
        column((e) => e.input.fingerprint),
        column((e) => e.deliveryCount),
        column((e) => (e.expanding ? '' : null)),
        column((e) => e.claimMs),
        ...deliveries.params,
      ],
    );
    return new Map(rows.map((row) => [row.id, row]));
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
        `SELECT id, url, retry_policy, throttle_rate FROM subscriptions WHERE ${MATCHES} AND id > $3 AND created_at <= $4 ORDER BY id LIMIT $5`,
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
    const rows = await tx.query<EventRow & { callback_secret: string | null; delivery_count: number | null }>(
      `SELECT ${EVENT_COLUMNS}, callback_secret, delivery_count FROM events WHERE id = $1`,
      [input.id],
    );
    const existing = rows[0] as EventRow & { callback_secret: string | null; delivery_count: number | null };
    if (existing.fingerprint !== input.fingerprint) {
      throw new ConflictError(`event '${input.id}' already exists with a different body`, [
        { path: 'id', message: 'was already used for a different event' },
      ]);
    }
    let deliveryCount = existing.delivery_count;
    if (deliveryCount === null) {
      // Stored before the count was kept: the deliveries it has.
      const counted = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM deliveries WHERE event_id = $1', [
        input.id,
      ]);
      deliveryCount = counted[0]?.n ?? 0;
    }
    return {
      event: toEvent(existing),
      created: false,
      deliveryCount,
      callbackSecret: this.keyRing.openNullable(existing.callback_secret, SECRET_OWNER.event(input.id)),
      plans: [],
      expanding: false,
    };
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

  /**
   * Undispatched events whose claim has lapsed, oldest first, now claimed by the caller for
   * `claimMs`; `expanding`: a large fan-out whose deliveries are not all written yet.
   */
  async claimUndispatched(limit: number, claimMs: number): Promise<ClaimedEvent[]> {
    return this.db.query<ClaimedEvent>(
      `WITH claimed AS (
         UPDATE events SET dispatch_claimed_until = now() + $2 * interval '1 millisecond'
         WHERE id IN (
           SELECT id FROM events
           WHERE dispatched_at IS NULL AND (dispatch_claimed_until IS NULL OR dispatch_claimed_until <= now())
           ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, created_at, expansion_cursor IS NOT NULL AS expanding)
       SELECT id, expanding FROM claimed ORDER BY created_at`,
      [limit, claimMs],
    );
  }

  /** The deliveries of these events still pending, to (re)start, by event (none: an empty list). */
  async pendingPlans(eventIds: readonly string[]): Promise<Map<string, DeliveryPlan[]>> {
    const rows = await this.db.query<PlanRow>(
      `${PLAN_SELECT} WHERE d.event_id = ANY($1::text[]) AND d.status = 'pending' ORDER BY d.event_id, d.id`,
      [eventIds],
    );
    const plans = new Map<string, DeliveryPlan[]>(eventIds.map((id) => [id, []]));
    for (const row of rows) plans.get(row.event_id)?.push(toPlan(row));
    return plans;
  }

  /** Ends these events' time in the outbox: every delivery of theirs has been handed to Temporal. */
  async markDispatched(eventIds: readonly string[]): Promise<void> {
    await this.db.query(
      'UPDATE events SET dispatched_at = now(), dispatch_claimed_until = NULL WHERE id = ANY($1::text[])',
      [eventIds],
    );
  }

  /**
   * The outbox backlog, for its gauges: events whose workflows are not all started yet, and the
   * acceptance time of the oldest (null when none waits). Reads the partial index of undispatched
   * events only.
   */
  async outboxBacklog(): Promise<{ count: number; oldestCreatedAt: Date | null }> {
    const rows = await this.db.query<{ n: number; oldest: Date | null }>(
      'SELECT count(*)::int AS n, min(created_at) AS oldest FROM events WHERE dispatched_at IS NULL',
    );
    return { count: rows[0]?.n ?? 0, oldestCreatedAt: rows[0]?.oldest ?? null };
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
 * One delivery per matched subscription (plus one to the event's callbackUrl), each with a new
 * id, not yet written.
 */
function planDeliveries(
  event: Pick<WebhookEvent, 'id' | 'type' | 'accountId' | 'callbackUrl'>,
  matches: readonly MatchRow[],
): DeliveryPlan[] {
  const targets = matches.map((match) => ({
    subscriptionId: match.id as string | null,
    url: match.url,
    policy: match.retry_policy,
    throttled: match.throttle_rate !== null,
  }));
  if (event.callbackUrl) targets.push({ subscriptionId: null, url: event.callbackUrl, policy: {}, throttled: false });
  return targets.map((target): DeliveryPlan => ({
    deliveryId: newId('dlv'),
    eventId: event.id,
    eventType: event.type,
    subscriptionId: target.subscriptionId,
    accountId: event.accountId,
    url: target.url,
    retryPolicy: withDefaults(target.policy),
    ...(target.throttled ? { throttled: true } : {}),
  }));
}

/** Writes the planned deliveries (see planDeliveries); one that exists already is skipped. */
async function insertDeliveries(
  tx: Queryable,
  event: Pick<WebhookEvent, 'id' | 'type' | 'accountId' | 'callbackUrl'>,
  matches: readonly MatchRow[],
): Promise<DeliveryPlan[]> {
  const plans = planDeliveries(event, matches);
  if (plans.length === 0) return [];
  const written = await writeDeliveries(tx, plans);
  if (written.size === plans.length) return plans;
  return plans.filter((plan) => written.has(plan.deliveryId));
}

/**
 * The indexes of the events in rounds, each naming an id once: the first of each id in the
 * first round, a second in the second, and so on. Events with distinct ids make one round.
 */
function roundsOfDistinctIds(events: readonly EventWrite[]): number[][] {
  const rounds: number[][] = [];
  const seen = new Map<string, number>();
  events.forEach((event, i) => {
    const round = seen.get(event.input.id) ?? 0;
    seen.set(event.input.id, round + 1);
    (rounds[round] ??= []).push(i);
  });
  return rounds;
}
