import { ApiKeyStore } from './api-keys';
import type { Logger } from 'pino';
import type { Db } from './db';
import { migrate } from './migrations';
import { openPostgres } from './pg';
import { openPglite } from './pglite';
import { DeliveryStore } from './deliveries';
import { EventStore } from './events';
import { EventTypeStore } from './event-types';
import { RetentionStore } from './retention';
import { SubscriptionStore } from './subscriptions';
import { OperationStore } from './operations';
import type { KeyRing } from './secret-box';

/** One store per table group, over one database. */
export interface Store {
  readonly db: Db;
  readonly eventTypes: EventTypeStore;
  readonly subscriptions: SubscriptionStore;
  readonly events: EventStore;
  readonly deliveries: DeliveryStore;
  readonly apiKeys: ApiKeyStore;
  readonly operations: OperationStore;
  readonly retention: RetentionStore;
}

/** The stores over `db`, sealing and opening secrets with `keyRing` (secret-box.ts). */
export function createStore(db: Db, keyRing: KeyRing): Store {
  return {
    db,
    eventTypes: new EventTypeStore(db),
    subscriptions: new SubscriptionStore(db, keyRing),
    events: new EventStore(db, keyRing),
    deliveries: new DeliveryStore(db, keyRing),
    apiKeys: new ApiKeyStore(db),
    operations: new OperationStore(db),
    retention: new RetentionStore(db),
  };
}

/** True when the store answers a trivial query. */
export async function storeIsReachable(db: Db): Promise<boolean> {
  try {
    await db.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}

/** Opens the configured database (PostgreSQL when a URL is given, else PGlite in a folder) and brings its schema up to date. */
export async function openStoreDb(
  options: { databaseUrl: string | undefined; pgliteDir: string | undefined },
  logger?: Logger,
): Promise<Db> {
  const db = options.databaseUrl ? await openPostgres(options.databaseUrl) : await openPglite(options.pgliteDir);
  try {
    const applied = await migrate(db);
    if (applied.length > 0) logger?.info({ applied }, 'store migrated');
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}
