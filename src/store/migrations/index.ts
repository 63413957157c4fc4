import type { Db } from '../db';
import * as initial from './001_initial';
import * as apiKeysAndSecretRotation from './002_api_keys_and_secret_rotation';
import * as subscriptionMatchIndex from './003_subscription_match_index';
import * as fanoutExpansion from './004_fanout_expansion';
import * as eventPayloadText from './005_event_payload_text';
import * as fastPathRun from './006_fast_path_run';
import * as subscriptionHealth from './007_subscription_health';
import * as subscriptionPaused from './008_subscription_paused';
import * as subscriptionThrottle from './009_subscription_throttle';
import * as secretsAtRest from './010_secrets_at_rest';
import * as retention from './011_retention';
import * as operations from './012_operations';

/** Every migration, in the order it runs. Append only: never edit one that has shipped. */
const MIGRATIONS: ReadonlyArray<{ id: string; sql: string }> = [
  { id: '001_initial', sql: initial.sql },
  { id: '002_api_keys_and_secret_rotation', sql: apiKeysAndSecretRotation.sql },
  { id: '003_subscription_match_index', sql: subscriptionMatchIndex.sql },
  { id: '004_fanout_expansion', sql: fanoutExpansion.sql },
  { id: '005_event_payload_text', sql: eventPayloadText.sql },
  { id: '006_fast_path_run', sql: fastPathRun.sql },
  { id: '007_subscription_health', sql: subscriptionHealth.sql },
  { id: '008_subscription_paused', sql: subscriptionPaused.sql },
  { id: '009_subscription_throttle', sql: subscriptionThrottle.sql },
  { id: '010_secrets_at_rest', sql: secretsAtRest.sql },
  { id: '011_retention', sql: retention.sql },
  { id: '012_operations', sql: operations.sql },
];

/** Arbitrary constant that serialises concurrent migrators (several API and worker processes). */
const MIGRATION_LOCK_KEY = 7_140_233;

export async function migrate(db: Db): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set((await tx.query<{ id: string }>('SELECT id FROM schema_migrations')).map((row) => row.id));
    const applied: string[] = [];
    for (const migration of MIGRATIONS) {
      if (done.has(migration.id)) continue;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (id) VALUES ($1)', [migration.id]);
      applied.push(migration.id);
    }
    return applied;
  });
}
