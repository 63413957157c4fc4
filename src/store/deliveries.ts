import type {
  Attempt,
  AttemptContext,
  AttemptRecord,
  Delivery,
  DeliveryPlan,
  DeliveryStatus,
  RecordedAttempt,
  StatusChange,
} from '../../core/model';
import { withDefaults, type DeliveryRetryPolicy } from '../../core/retry-policy';
import { deliveryWorkflowId } from '../../core/workflow-ids';
import {
  HELD_SLOT_KEPT_MS,
  MIN_SEND_SPACING,
  SLOT_TOLERANCE_MS,
  THROTTLE_LOG_LIMIT,
  type SendTurn,
  type SendTurnRequest,
} from '../../core/throttle';
import type { Queryable } from './db';
import { andVisible, deliveryVisibleTo, withVisibleTo, type VisibleTo } from './visibility';
import { decodeCursor, encodeNumberCursor, toPage, type Page } from './pagination';
import { SECRET_OWNER, type KeyRing } from './secret-box';
import { Batcher, eachAlone } from '../util/batcher';

interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  subscription_id: string | null;
  account_id: string | null;
  url: string;
  status: DeliveryStatus;
  attempt_count: number;
  next_attempt_at: Date | null;
  workflow_id: string;
  fast_path_workflow_id: string | null;
  fast_path_run_id: string | null;
  created_at: Date;
  updated_at: Date;
}

interface AttemptRow {
  attempt: number;
  started_at: Date;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response_body: string | null;
}

/**
 * Attempt contexts read, or delivered attempts recorded, in one statement at most: the concurrent
 * first attempts of a few subscriber workflows (32 each) fit in one.
 */
const ATTEMPT_BATCH = 100;

/** A delivered attempt waiting to be recorded with others. */
interface DeliveredAttempt {
  readonly deliveryId: string;
  readonly record: AttemptRecord;
}

/** A delivery with what its attempt needs of its event and subscription. */
type AttemptContextRow = DeliveryRow & {
  e_data: unknown;
  e_data_json: string | null;
  e_callback_url: string | null;
  e_callback_secret: string | null;
  e_created_at: Date;
  s_id: string | null;
  s_url: string | null;
  s_active: boolean | null;
  s_headers: Record<string, string> | null;
  s_secret: string | null;
  s_previous_secret: string | null;
  s_disabled_reason: string | null;
  s_paused: boolean | null;
  s_throttle_rate: number | null;
};

const ATTEMPT_COLUMNS = 'attempt, started_at, duration_ms, status_code, error, response_body';

const toDelivery = (row: DeliveryRow): Delivery => ({
  id: row.id,
  eventId: row.event_id,
  eventType: row.event_type,
  subscriptionId: row.subscription_id,
  accountId: row.account_id,
  url: row.url,
  status: row.status,
  attemptCount: row.attempt_count,
  nextAttemptAt: row.next_attempt_at,
  workflowId: row.workflow_id,
  fastPathRun:
    row.fast_path_workflow_id !== null && row.fast_path_run_id !== null
      ? { workflowId: row.fast_path_workflow_id, runId: row.fast_path_run_id }
      : null,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const toAttempt = (row: AttemptRow): Attempt => ({
  attempt: row.attempt,
  startedAt: row.started_at,
  durationMs: row.duration_ms,
  statusCode: row.status_code,
  error: row.error,
  responseBody: row.response_body,
});

/** Reads what starting a delivery's workflow needs: the delivery and its subscription's retry policy. */
export const PLAN_SELECT = `SELECT d.id, d.event_id, d.event_type, d.subscription_id, d.account_id, d.url, s.retry_policy,
    s.throttle_rate
  FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id`;

export type PlanRow = Pick<DeliveryRow, 'id' | 'event_id' | 'event_type' | 'subscription_id' | 'account_id' | 'url'> & {
  retry_policy: Partial<DeliveryRetryPolicy> | null;
  throttle_rate: number | null;
};

export const toPlan = (row: PlanRow): DeliveryPlan => ({
  deliveryId: row.id,
  eventId: row.event_id,
  eventType: row.event_type,
  subscriptionId: row.subscription_id,
  accountId: row.account_id,
  url: row.url,
  retryPolicy: withDefaults(row.retry_policy ?? undefined),
  ...(row.throttle_rate !== null ? { throttled: true } : {}),
});

/** A new pending delivery row: who gets which event, where. */
export type NewDelivery = Pick<
  DeliveryPlan,
  'deliveryId' | 'eventId' | 'eventType' | 'subscriptionId' | 'accountId' | 'url'
>;

/**
 * The INSERT of new pending deliveries from arrays, its parameters numbered from `firstParam`,
 * with `where` (a condition on the rows `u`) if given. A delivery that exists already (the same
 * event and subscription, by its workflow id) is left as it is; the statement returns the ids
 * written, with their event ids.
 */
export function deliveriesInsert(
  rows: readonly NewDelivery[],
  firstParam: number,
  where = '',
): { readonly sql: string; readonly params: unknown[] } {
  const arrays = Array.from({ length: 7 }, (_, i) => `$${firstParam + i}::text[]`).join(', ');
  return {
    sql: `INSERT INTO deliveries (id, event_id, event_type, subscription_id, account_id, url, workflow_id)
     SELECT u.* FROM unnest(${arrays}) AS u(id, event_id, event_type, subscription_id, account_id, url, workflow_id)${where ? ` WHERE ${where}` : ''}
     ON CONFLICT (workflow_id) DO NOTHING RETURNING id, event_id`,
    params: [
      rows.map((row) => row.deliveryId),
      rows.map((row) => row.eventId),
      rows.map((row) => row.eventType),
      rows.map((row) => row.subscriptionId),
      rows.map((row) => row.accountId),
      rows.map((row) => row.url),
      rows.map((row) => deliveryWorkflowId(row.eventId, row.subscriptionId)),
    ],
  };
}

/** Writes new pending deliveries in one statement (see deliveriesInsert). Returns the ids written. */
export async function writeDeliveries(tx: Queryable, rows: readonly NewDelivery[]): Promise<Set<string>> {
  const { sql, params } = deliveriesInsert(rows, 1);
  const written = await tx.query<{ id: string }>(sql, params);
  return new Set(written.map((row) => row.id));
}

export interface DeliveryFilter {
  readonly eventId?: string | undefined;
  readonly subscriptionId?: string | undefined;
  readonly status?: DeliveryStatus | undefined;
  readonly accountId?: string | undefined;
  /** Only what this account may see (src/store/visibility.ts). @default everything */
  readonly visibleTo?: VisibleTo;
  readonly cursor?: string | undefined;
  readonly limit: number;
}

export class DeliveryStore {
  /** Attempt contexts asked for together, read in one statement. */
  private readonly contextReads: Batcher<string, AttemptContext | undefined>;
  /** Delivered attempts that finish together, recorded in one statement. */
  private readonly deliveredWrites: Batcher<DeliveredAttempt, RecordedAttempt>;

  constructor(
    private readonly db: Queryable,
    /** Opens the secrets an attempt signs with. */
    private readonly keyRing: KeyRing,
  ) {
    this.contextReads = new Batcher(async (ids) => {
      const contexts = await this.attemptContexts(ids);
      return ids.map((id) => contexts.get(id));
    }, ATTEMPT_BATCH);
    this.deliveredWrites = new Batcher((attempts) => this.recordDelivered(attempts), ATTEMPT_BATCH);
  }

  /** The delivery, if it exists and the account (when given) may see it. */
  async get(id: string, visibleTo?: VisibleTo): Promise<Delivery | undefined> {
    const rows = await this.db.query<DeliveryRow>(
      `SELECT * FROM deliveries WHERE id = $1${andVisible(visibleTo, deliveryVisibleTo, 2)}`,
      withVisibleTo([id], visibleTo),
    );
    return rows[0] && toDelivery(rows[0]);
  }

  async plan(id: string): Promise<DeliveryPlan | undefined> {
    const rows = await this.db.query<PlanRow>(`${PLAN_SELECT} WHERE d.id = $1`, [id]);
    return rows[0] && toPlan(rows[0]);
  }

  /** The attempts of several deliveries, by delivery id. */
  async attemptsOf(ids: readonly string[]): Promise<Map<string, Attempt[]>> {
    const byDelivery = new Map<string, Attempt[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return byDelivery;
    const rows = await this.db.query<AttemptRow & { delivery_id: string }>(
      `SELECT delivery_id, ${ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = ANY($1::text[]) ORDER BY delivery_id, attempt`,
      [ids],
    );
    for (const row of rows) byDelivery.get(row.delivery_id)?.push(toAttempt(row));
    return byDelivery;
  }

  /** The last `perDelivery` attempts of each delivery, oldest first: what delivery lists embed. */
  async recentAttemptsOf(ids: readonly string[], perDelivery: number): Promise<Map<string, Attempt[]>> {
    const byDelivery = new Map<string, Attempt[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return byDelivery;
    const rows = await this.db.query<AttemptRow & { delivery_id: string }>(
      `SELECT delivery_id, ${ATTEMPT_COLUMNS} FROM (
         SELECT delivery_id, ${ATTEMPT_COLUMNS},
                row_number() OVER (PARTITION BY delivery_id ORDER BY attempt DESC) AS recent
         FROM attempts WHERE delivery_id = ANY($1::text[])
       ) numbered WHERE recent <= $2 ORDER BY delivery_id, attempt`,
      [ids, perDelivery],
    );
    for (const row of rows) byDelivery.get(row.delivery_id)?.push(toAttempt(row));
    return byDelivery;
  }

  /** One page of a delivery's attempts, oldest first, those numbered after `after`. */
  async attemptsPage(deliveryId: string, after: number, limit: number): Promise<Page<Attempt>> {
    const rows = await this.db.query<AttemptRow>(
      `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = $1 AND attempt > $2 ORDER BY attempt LIMIT $3`,
      [deliveryId, after, limit + 1],
    );
    const items = rows.slice(0, limit).map(toAttempt);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeNumberCursor(last.attempt) : null };
  }

  /** Newest first. */
  async list(filter: DeliveryFilter): Promise<Page<Delivery>> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (column: string, op: string, value: unknown): void => {
      params.push(value);
      where.push(`${column} ${op} $${params.length}`);
    };
    if (filter.eventId !== undefined) add('event_id', '=', filter.eventId);
    if (filter.subscriptionId !== undefined) add('subscription_id', '=', filter.subscriptionId);
    if (filter.status !== undefined) add('status', '=', filter.status);
    if (filter.accountId !== undefined) add('account_id', '=', filter.accountId);
    if (filter.visibleTo !== undefined) {
      params.push(filter.visibleTo);
      where.push(deliveryVisibleTo(params.length));
    }
    const before = decodeCursor(filter.cursor);
    if (before !== undefined) add('id', '<', before);
    params.push(filter.limit + 1);
    const rows = await this.db.query<DeliveryRow>(
      `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    return toPage(rows.map(toDelivery), filter.limit);
  }

  /**
   * The delivery, its event, target and secrets, read fresh for an attempt; undefined when
   * unknown. Attempts that ask together are read in one statement (see attemptContexts).
   */
  attemptContext(deliveryId: string): Promise<AttemptContext | undefined> {
    return this.contextReads.add(deliveryId);
  }

  /** The attempt contexts of several deliveries, in one statement, by delivery id (unknown ones left out). */
  async attemptContexts(deliveryIds: readonly string[]): Promise<Map<string, AttemptContext>> {
    const rows = await this.db.query<AttemptContextRow>(
      `SELECT d.*, CASE WHEN e.data_json IS NULL THEN e.data END AS e_data, e.data_json AS e_data_json, e.callback_url AS e_callback_url, e.callback_secret AS e_callback_secret,
              e.created_at AS e_created_at, s.id AS s_id, s.url AS s_url, s.active AS s_active,
              s.headers AS s_headers, s.secret AS s_secret, s.disabled_reason AS s_disabled_reason, s.paused AS s_paused, s.throttle_rate AS s_throttle_rate,
              CASE WHEN s.previous_secret_expires_at > now() THEN s.previous_secret END AS s_previous_secret
       FROM deliveries d JOIN events e ON e.id = d.event_id
       LEFT JOIN subscriptions s ON s.id = d.subscription_id
       WHERE d.id = ANY($1::text[])`,
      [deliveryIds],
    );
    return new Map(rows.map((row) => [row.id, this.toAttemptContext(row)]));
  }

  private toAttemptContext(row: AttemptContextRow): AttemptContext {
    const isCallback = row.subscription_id === null;
    const owner = isCallback
      ? SECRET_OWNER.event(row.event_id)
      : SECRET_OWNER.subscription(row.subscription_id as string);
    return {
      delivery: toDelivery(row),
      event: {
        id: row.event_id,
        type: row.event_type,
        accountId: row.account_id,
        data: row.e_data,
        ...(row.e_data_json !== null ? { dataJson: row.e_data_json } : {}),
        callbackUrl: row.e_callback_url,
        createdAt: row.e_created_at,
      },
      url: (isCallback ? row.e_callback_url : row.s_url) ?? row.url,
      headers: row.s_headers ?? {},
      secret: this.keyRing.openNullable(isCallback ? row.e_callback_secret : row.s_secret, owner) ?? '',
      previousSecret: isCallback ? null : this.keyRing.openNullable(row.s_previous_secret, owner),
      subscriptionActive: isCallback || (row.s_id !== null && row.s_active === true),
      subscriptionDisabledReason: row.s_disabled_reason,
      subscriptionPaused: row.s_paused === true,
      subscriptionThrottleRate: isCallback ? null : row.s_throttle_rate,
    };
  }

  /**
   * An attempt's turn under its subscription's throttleRate, decided on the schedule every worker
   * shares (the row, locked for the decision; see core/throttle.ts). It sends now when the window
   * has room and it either holds a slot it waited for or the next free slot begins now. Else a
   * held slot less than a window (HELD_SLOT_KEPT_MS at least) old keeps its place and waits for
   * the next room; any other reserves the next free slot (no earlier than the window has room;
   * the schedule moves on by 1/rate) and waits for it. The time it waits for becomes the delivery's next_attempt_at: it is
   * handed over (attemptedAmong), and the API shows when it goes out. Unthrottled: now. A
   * `withdrawn` send (a turn given back unused) leaves the window before the decision.
   */
  async takeSendTurn({ deliveryId, subscriptionId, heldSlotAt, withdrawn }: SendTurnRequest): Promise<SendTurn> {
    const rows = await this.db.query<{ send_now: boolean; slot: Date; decision: string }>(
      `WITH current AS (
         SELECT id, throttle_next_at, array_remove(throttle_sent_log, $5::timestamptz) AS log, clock_timestamp() AS now,
                make_interval(secs => 1.0 / throttle_rate) AS step,
                GREATEST(1, LEAST(floor(throttle_rate)::int, $3::int)) AS k, throttle_rate AS rate
         FROM subscriptions WHERE id = $1 AND throttle_rate IS NOT NULL FOR UPDATE
       ), window_room AS (
         -- The earliest time the window has room: now while it holds fewer than k sends, else
         -- when the oldest of the last k leaves it (k/rate seconds after it went out), and no
         -- sooner than MIN_SEND_SPACING slots after the last send (NULL, ignored, when none). A held
         -- slot is kept (no new one is reserved) while it is less than a window (at least
         -- HELD_SLOT_KEPT_MS) old.
         SELECT *, GREATEST(
                  CASE WHEN cardinality(log) < k THEN now
                       ELSE log[cardinality(log) - k + 1] + make_interval(secs => k / rate) END,
                  log[cardinality(log)] + step * $6) AS room_at,
                $2::timestamptz IS NOT NULL AS held,
                $2::timestamptz > now - GREATEST(make_interval(secs => k / rate), $7 * interval '1 millisecond') AS keeps_place
         FROM current
       ), decision AS (
         SELECT *,
                -- Kept: the next room, spread over a quarter slot so that those waiting do not all wake at once.
                CASE WHEN keeps_place THEN room_at + step * random() * 0.25
                     ELSE GREATEST(throttle_next_at, now, room_at) END AS slot,
                room_at <= now AND (held OR GREATEST(throttle_next_at, now) <= now + $4 * interval '1 millisecond') AS send_now
         FROM window_room
       )
       UPDATE subscriptions s SET
         throttle_sent_log = CASE WHEN d.send_now
           THEN (d.log || d.now)[GREATEST(1, cardinality(d.log) + 2 - d.k):] ELSE d.log END,
         throttle_next_at = CASE
           WHEN d.held AND (d.send_now OR d.keeps_place) THEN s.throttle_next_at
           WHEN d.send_now THEN GREATEST(s.throttle_next_at, d.now) + d.step
           ELSE d.slot + d.step END
       FROM decision d WHERE s.id = d.id
       RETURNING d.send_now, d.slot, d.now::text AS decision`,
      [
        subscriptionId,
        heldSlotAt === undefined ? null : new Date(heldSlotAt),
        THROTTLE_LOG_LIMIT,
        SLOT_TOLERANCE_MS,
        withdrawn ?? null,
        MIN_SEND_SPACING,
        HELD_SLOT_KEPT_MS,
      ],
    );
    const row = rows[0];
    if (row === undefined) return { kind: 'now', decision: null };
    if (row.send_now) return { kind: 'now', decision: row.decision };
    await this.db.query(
      `UPDATE deliveries SET next_attempt_at = $2, updated_at = now() WHERE id = $1 AND status = 'pending'`,
      [deliveryId, row.slot],
    );
    return { kind: 'wait', slotAt: row.slot.getTime() };
  }

  /**
   * Appends an attempt (numbered after the last one) and updates the delivery's counters; a
   * delivered attempt also marks the delivery succeeded, saving the workflow a write of its own,
   * and keeps the subscriber workflow run that made it, if one did. Delivered attempts that finish
   * together are written in one statement; a failed one alone, since the count of consecutive
   * failures its write reaches decides its subscription's health (activities/subscription-health.ts).
   */
  recordAttempt(deliveryId: string, record: AttemptRecord): Promise<RecordedAttempt> {
    return record.delivered === true
      ? this.deliveredWrites.add({ deliveryId, record })
      : this.recordOneAttempt(deliveryId, record);
  }

  /**
   * Delivered attempts in one statement: each numbered after its delivery's last (and after one
   * another, for a delivery named twice), its delivery marked succeeded, and its subscription's
   * failures reset. A batch the store refuses (an attempt of an unknown delivery) is written again
   * one attempt at a time, so that a bad row fails its own attempt only. Results in the attempts'
   * order.
   */
  private async recordDelivered(
    attempts: readonly DeliveredAttempt[],
  ): Promise<readonly (RecordedAttempt | Promise<RecordedAttempt>)[]> {
    let rows: { ord: string; attempt: number; subscription_id: string | null }[];
    try {
      rows = await this.db.query(
        `WITH input AS (
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[])
             WITH ORDINALITY AS u(id, started_at, duration_ms, status_code, response_body, url, run_workflow_id, run_id, ord)
         ), numbered AS (
           SELECT i.*, coalesce((SELECT max(a.attempt) FROM attempts a WHERE a.delivery_id = i.id), 0)
                       + row_number() OVER (PARTITION BY i.id ORDER BY i.ord) AS attempt
           FROM input i
         ), inserted AS (
           INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_body)
           SELECT id, attempt, started_at, duration_ms, status_code, NULL, response_body FROM numbered
         ), latest AS (
           SELECT DISTINCT ON (id) * FROM numbered ORDER BY id, ord DESC
         ), updated AS (
           UPDATE deliveries d SET attempt_count = l.attempt, url = l.url, next_attempt_at = NULL, updated_at = now(),
             status = 'succeeded', fast_path_workflow_id = l.run_workflow_id, fast_path_run_id = l.run_id
           FROM latest l WHERE d.id = l.id RETURNING d.id, d.subscription_id
         ), health AS (
           -- Locked in id order: two processes' batches that share subscriptions wait for each other instead of deadlocking.
           UPDATE subscriptions s SET consecutive_failures = 0, last_success_at = now(), failing_since = NULL
           FROM (SELECT id FROM subscriptions WHERE id IN (SELECT subscription_id FROM updated) ORDER BY id FOR UPDATE) locked
           WHERE s.id = locked.id
           RETURNING s.id
         )
         SELECT n.ord::text AS ord, n.attempt::int AS attempt, h.id AS subscription_id
         FROM numbered n JOIN updated u ON u.id = n.id LEFT JOIN health h ON h.id = u.subscription_id`,
        [
          attempts.map((a) => a.deliveryId),
          attempts.map((a) => a.record.startedAt),
          attempts.map((a) => a.record.durationMs),
          attempts.map((a) => a.record.statusCode),
          attempts.map((a) => a.record.responseBody),
          attempts.map((a) => a.record.url),
          attempts.map((a) => a.record.fastPathRun?.workflowId ?? null),
          attempts.map((a) => a.record.fastPathRun?.runId ?? null),
        ],
      );
    } catch {
      return eachAlone(attempts, (a) => this.recordOneAttempt(a.deliveryId, a.record));
    }
    const byOrdinal = new Map(rows.map((row) => [Number(row.ord), row]));
    return attempts.map((_, i) => {
      const row = byOrdinal.get(i + 1);
      return {
        attempt: row?.attempt ?? 0,
        health:
          row?.subscription_id !== undefined && row.subscription_id !== null
            ? { subscriptionId: row.subscription_id, consecutiveFailures: 0, failingSince: null }
            : null,
      };
    });
  }

  /** One attempt, delivered or not, in one statement (see recordAttempt). */
  private async recordOneAttempt(deliveryId: string, record: AttemptRecord): Promise<RecordedAttempt> {
    const rows = await this.db.query<{
      attempt: number;
      subscription_id: string | null;
      consecutive_failures: number | null;
      failing_since: Date | null;
    }>(
      `WITH numbered AS (
         SELECT coalesce(max(attempt), 0) + 1 AS attempt FROM attempts WHERE delivery_id = $1
       ), inserted AS (
         INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_body)
         SELECT $1, attempt, $2, $3, $4, $5, $6 FROM numbered RETURNING attempt
       ), updated AS (
       UPDATE deliveries SET attempt_count = (SELECT attempt FROM inserted), url = $7, next_attempt_at = $8, updated_at = now(),
         status = CASE WHEN $9 THEN 'succeeded' ELSE status END,
         fast_path_workflow_id = CASE WHEN $9 THEN $10 ELSE fast_path_workflow_id END,
         fast_path_run_id = CASE WHEN $9 THEN $11 ELSE fast_path_run_id END
       WHERE id = $1 RETURNING attempt_count AS attempt, subscription_id
       ), health AS (
         UPDATE subscriptions s SET
           consecutive_failures = CASE WHEN $9 THEN 0 ELSE s.consecutive_failures + 1 END,
           last_success_at = CASE WHEN $9 THEN now() ELSE s.last_success_at END,
           last_failure_at = CASE WHEN $9 THEN s.last_failure_at ELSE now() END,
           failing_since = CASE WHEN $9 THEN NULL ELSE coalesce(s.failing_since, now()) END
         FROM updated WHERE s.id = updated.subscription_id
         RETURNING s.id, s.consecutive_failures, s.failing_since
       )
       SELECT updated.attempt, health.id AS subscription_id, health.consecutive_failures, health.failing_since
       FROM updated LEFT JOIN health ON true`,
      [
        deliveryId,
        record.startedAt,
        record.durationMs,
        record.statusCode,
        record.error,
        record.responseBody,
        record.url,
        record.nextAttemptAt,
        record.delivered ?? false,
        record.fastPathRun?.workflowId ?? null,
        record.fastPathRun?.runId ?? null,
      ],
    );
    const row = rows[0];
    return {
      attempt: row?.attempt ?? 0,
      health:
        row?.subscription_id !== undefined && row.subscription_id !== null && row.consecutive_failures !== null
          ? {
              subscriptionId: row.subscription_id,
              consecutiveFailures: row.consecutive_failures,
              failingSince: row.failing_since,
            }
          : null,
    };
  }

  /**
   * Sets the delivery's status; a finished delivery has no next attempt, a pending one (a resend,
   * run by its own delivery workflow) no fast-path run. Returns the status it
   * had and its event type (so a caller can count a delivery's end once), undefined when unknown.
   */
  async setStatus(deliveryId: string, status: DeliveryStatus): Promise<StatusChange | undefined> {
    const rows = await this.db.query<{ previous: DeliveryStatus; event_type: string }>(
      `UPDATE deliveries d SET status = $2, updated_at = now(),
         next_attempt_at = CASE WHEN $2 = 'pending' THEN now() ELSE NULL END,
         fast_path_workflow_id = CASE WHEN $2 = 'pending' THEN NULL ELSE d.fast_path_workflow_id END,
         fast_path_run_id = CASE WHEN $2 = 'pending' THEN NULL ELSE d.fast_path_run_id END
       FROM (SELECT id, status FROM deliveries WHERE id = $1 FOR UPDATE) old
       WHERE d.id = old.id RETURNING old.status AS previous, d.event_type`,
      [deliveryId, status],
    );
    const row = rows[0];
    return row ? { previous: row.previous, eventType: row.event_type } : undefined;
  }

  /**
   * Marks an ended delivery pending again for a resend, only if it is still ended (failed or
   * cancelled) with `attemptCount` attempts; true when this call did.
   */
  async reopen(deliveryId: string, attemptCount: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now(),
         fast_path_workflow_id = NULL, fast_path_run_id = NULL
       WHERE id = $1 AND status IN ('failed', 'cancelled') AND attempt_count = $2 RETURNING id`,
      [deliveryId, attemptCount],
    );
    return rows.length > 0;
  }

  /**
   * The ids among these whose first attempt is recorded, that ended without one, or that wait
   * for a throttle slot (durably, in their workflow: next_attempt_at is set).
   */
  async attemptedAmong(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db.query<{ id: string }>(
      `SELECT id FROM deliveries WHERE id = ANY($1::text[])
         AND (attempt_count > 0 OR status <> 'pending' OR next_attempt_at IS NOT NULL)`,
      [ids],
    );
    return new Set(rows.map((row) => row.id));
  }

  /** Deliveries not yet ended, for the pending gauge. */
  async countPending(): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM deliveries WHERE status = 'pending'`,
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * The pending deliveries among these workflow ids, each with its version (its updated_at as
   * text), against which the reconciler repairs it.
   */
  async pendingOf(
    workflowIds: readonly string[],
  ): Promise<Array<{ id: string; workflowId: string; version: string; updatedAt: Date; eventType: string }>> {
    if (workflowIds.length === 0) return [];
    const rows = await this.db.query<{
      id: string;
      workflow_id: string;
      version: string;
      updated_at: Date;
      event_type: string;
    }>(
      `SELECT id, workflow_id, updated_at::text AS version, updated_at, event_type FROM deliveries
       WHERE workflow_id = ANY($1::text[]) AND status = 'pending'`,
      [workflowIds],
    );
    return rows.map((row) => ({
      id: row.id,
      workflowId: row.workflow_id,
      version: row.version,
      updatedAt: row.updated_at,
      eventType: row.event_type,
    }));
  }

  /**
   * Ends a pending delivery whose workflow has closed without saying so, unless the row changed
   * since the reconciler read `version` (an attempt, or a resend that started a new run).
   * True when it was written.
   */
  async endIfUnchanged(deliveryId: string, status: DeliveryStatus, version: string): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE deliveries SET status = $2, next_attempt_at = NULL, updated_at = now()
       WHERE id = $1 AND status = 'pending' AND updated_at::text = $3 RETURNING id`,
      [deliveryId, status, version],
    );
    return rows.length > 0;
  }

  /** Workflow ids of a subscription's pending deliveries, to cancel them when it is deleted or deactivated. */
  async pendingWorkflowIds(subscriptionId: string): Promise<string[]> {
    const rows = await this.db.query<{ workflow_id: string }>(
      `SELECT workflow_id FROM deliveries WHERE subscription_id = $1 AND status = 'pending'`,
      [subscriptionId],
    );
    return rows.map((row) => row.workflow_id);
  }
}
