import { ALL_EVENT_TYPES, type Subscription } from '../../core/model';
import { newId } from '../../core/ids';
import { withDefaults, type DeliveryRetryPolicy } from '../../core/retry-policy';
import type { Queryable } from './db';
import { andVisible, ownedBy, withVisibleTo, type VisibleTo } from './visibility';
import { decodeCursor, toPage, type Page } from './pagination';
import { SECRET_OWNER, type KeyRing } from './secret-box';

interface SubscriptionRow {
  id: string;
  url: string;
  event_types: string[];
  account_id: string | null;
  active: boolean;
  paused: boolean;
  throttle_rate: number | null;
  description: string;
  headers: Record<string, string>;
  secret: string;
  retry_policy: Partial<DeliveryRetryPolicy>;
  consecutive_failures: number;
  last_success_at: Date | null;
  last_failure_at: Date | null;
  failing_since: Date | null;
  disabled_at: Date | null;
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

const toSubscription = (row: SubscriptionRow): Subscription => ({
  id: row.id,
  url: row.url,
  eventTypes: row.event_types,
  accountId: row.account_id,
  active: row.active,
  paused: row.paused,
  throttleRate: row.throttle_rate,
  description: row.description,
  headers: row.headers,
  retryPolicy: withDefaults(row.retry_policy),
  health: {
    status: row.disabled_at !== null ? 'disabled' : row.consecutive_failures > 0 ? 'failing' : 'healthy',
    consecutiveFailures: row.consecutive_failures,
    lastSuccessAt: row.last_success_at,
    lastFailureAt: row.last_failure_at,
    failingSince: row.failing_since,
    disabledAt: row.disabled_at,
    disabledReason: row.disabled_reason,
  },
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** Columns every read returns: all but the secret (sealed, see secret-box.ts), which only getSecret reads. */
const PUBLIC_COLUMNS = `id, url, event_types, account_id, active, paused, throttle_rate, description, headers, retry_policy,
  consecutive_failures, last_success_at, last_failure_at, failing_since, disabled_at, disabled_reason,
  created_at, updated_at`;

/** A value in SQL: parameter $n when a number, else the expression given (a column of an outer query). */
const sqlValue = (value: number | string): string => (typeof value === 'number' ? `$${value}` : value);

/** SQL condition: the subscription takes events of the type in parameter $n (or expression), by name or through '*'. */
export const takesEventType = (n: number | string): string =>
  `(event_types @> ARRAY[${sqlValue(n)}]::text[] OR event_types @> ARRAY['${ALL_EVENT_TYPES}'])`;

/**
 * SQL condition: an active subscription that matches an event of type $n and account $m (or
 * expressions), its own or any for a vendor-level one.
 */
export const matchesEvent = (n: number | string, m: number | string): string =>
  `active AND ${takesEventType(n)} AND (account_id IS NULL OR account_id = ${sqlValue(m)})`;

/** What re-enabling a subscription clears. */
const HEALTH_RESET = [
  'consecutive_failures = 0',
  'failing_since = NULL',
  'disabled_at = NULL',
  'disabled_reason = NULL',
];

export interface NewSubscription {
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly accountId: string | null;
  readonly active: boolean;
  readonly paused: boolean;
  readonly throttleRate: number | null;
  readonly description: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly secret: string;
  readonly retryPolicy: DeliveryRetryPolicy;
}

export type SubscriptionChanges = Partial<Omit<NewSubscription, 'secret' | 'accountId'>>;

export interface SubscriptionFilter {
  readonly eventType?: string | undefined;
  readonly accountId?: string | undefined;
  readonly active?: boolean | undefined;
  /** Only what this account may see (src/store/visibility.ts). @default everything */
  readonly visibleTo?: VisibleTo;
  readonly cursor?: string | undefined;
  readonly limit: number;
}

export class SubscriptionStore {
  constructor(
    private readonly db: Queryable,
    /** Seals and opens the secrets. */
    private readonly keyRing: KeyRing,
  ) {}

  async create(input: NewSubscription): Promise<Subscription> {
    const id = newId('sub');
    const rows = await this.db.query<SubscriptionRow>(
      `INSERT INTO subscriptions (id, url, event_types, account_id, active, description, headers, secret, retry_policy, paused, throttle_rate)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${PUBLIC_COLUMNS}`,
      [
        id,
        input.url,
        input.eventTypes,
        input.accountId,
        input.active,
        input.description,
        JSON.stringify(input.headers),
        this.keyRing.seal(input.secret, SECRET_OWNER.subscription(id)),
        JSON.stringify(input.retryPolicy),
        input.paused,
        input.throttleRate,
      ],
    );
    return toSubscription(rows[0] as SubscriptionRow);
  }

  /** The subscription, if it exists and the account (when given) may see it. */
  async get(id: string, visibleTo?: VisibleTo): Promise<Subscription | undefined> {
    const rows = await this.db.query<SubscriptionRow>(
      `SELECT ${PUBLIC_COLUMNS} FROM subscriptions WHERE id = $1${andVisible(visibleTo, ownedBy, 2)}`,
      withVisibleTo([id], visibleTo),
    );
    return rows[0] && toSubscription(rows[0]);
  }

  async getSecret(id: string): Promise<string | undefined> {
    const rows = await this.db.query<{ secret: string }>('SELECT secret FROM subscriptions WHERE id = $1', [id]);
    return rows[0] && this.keyRing.open(rows[0].secret, SECRET_OWNER.subscription(id));
  }

  /**
   * Replaces the signing secret. The old one stays valid for `graceMs` (deliveries carry both
   * signatures meanwhile); a secret that was still in its own grace period is dropped.
   * Undefined when there is no such subscription.
   */
  async rotateSecret(
    id: string,
    secret: string,
    graceMs: number,
  ): Promise<{ previousSecretExpiresAt: Date | null } | undefined> {
    const rows = await this.db.query<{ previous_secret_expires_at: Date | null }>(
      `UPDATE subscriptions SET
         previous_secret = CASE WHEN $3 > 0 THEN secret END,
         previous_secret_expires_at = CASE WHEN $3 > 0 THEN now() + $3 * interval '1 millisecond' END,
         secret = $2, updated_at = now()
       WHERE id = $1 RETURNING previous_secret_expires_at`,
      [id, this.keyRing.seal(secret, SECRET_OWNER.subscription(id)), graceMs],
    );
    const row = rows[0];
    return row && { previousSecretExpiresAt: row.previous_secret_expires_at };
  }

  async list(filter: SubscriptionFilter): Promise<Page<Subscription>> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: (n: number) => string, value: unknown): void => {
      params.push(value);
      where.push(clause(params.length));
    };
    if (filter.eventType !== undefined) add(takesEventType, filter.eventType);
    if (filter.accountId !== undefined) add((n) => `account_id = $${n}`, filter.accountId);
    if (filter.visibleTo !== undefined) add(ownedBy, filter.visibleTo);
    if (filter.active !== undefined) add((n) => `active = $${n}`, filter.active);
    const after = decodeCursor(filter.cursor);
    if (after !== undefined) add((n) => `id > $${n}`, after);
    params.push(filter.limit + 1);
    const rows = await this.db.query<SubscriptionRow>(
      `SELECT ${PUBLIC_COLUMNS} FROM subscriptions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id LIMIT $${params.length}`,
      params,
    );
    return toPage(rows.map(toSubscription), filter.limit);
  }

  async update(id: string, changes: SubscriptionChanges): Promise<Subscription | undefined> {
    const columns: Record<keyof SubscriptionChanges, string> = {
      url: 'url',
      eventTypes: 'event_types',
      active: 'active',
      paused: 'paused',
      throttleRate: 'throttle_rate',
      description: 'description',
      headers: 'headers',
      retryPolicy: 'retry_policy',
    };
    const sets: string[] = [];
    const params: unknown[] = [id];
    for (const [key, column] of Object.entries(columns) as Array<[keyof SubscriptionChanges, string]>) {
      const value = changes[key];
      if (value === undefined) continue;
      params.push(key === 'headers' || key === 'retryPolicy' ? JSON.stringify(value) : value);
      sets.push(`${column} = $${params.length}`);
    }
    // A new rate starts a new schedule: slots already reserved keep their times.
    if (changes.throttleRate !== undefined) sets.push('throttle_next_at = NULL');
    // Enabled again: its health starts afresh.
    if (changes.active === true) sets.push(...HEALTH_RESET);
    const rows = await this.db.query<SubscriptionRow>(
      `UPDATE subscriptions SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE id = $1 RETURNING ${PUBLIC_COLUMNS}`,
      params,
    );
    return rows[0] && toSubscription(rows[0]);
  }

  /**
   * Disables an active subscription for its failures: inactive, with when and why. Undefined when
   * it was not active (disabled already, deactivated, or gone), so only one caller acts on it.
   */
  async disable(id: string, reason: string): Promise<Subscription | undefined> {
    const rows = await this.db.query<SubscriptionRow>(
      `UPDATE subscriptions SET active = false, disabled_at = now(), disabled_reason = $2, updated_at = now()
       WHERE id = $1 AND active RETURNING ${PUBLIC_COLUMNS}`,
      [id, reason],
    );
    return rows[0] && toSubscription(rows[0]);
  }

  async delete(id: string): Promise<boolean> {
    const rows = await this.db.query('DELETE FROM subscriptions WHERE id = $1 RETURNING id', [id]);
    return rows.length > 0;
  }
}
