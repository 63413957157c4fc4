/**
 * `tsx bench/retention-size.ts [postgres://…]` — what retention gives back: fills a store (PGlite on
 * disk, as `npm start` uses it, or the PostgreSQL database given) with 100,000 expired deliveries
 * (25,000 events of the benchmark's payload, each to 4 subscriptions, each delivery with one
 * attempt) beside 10,000 recent ones that stay, then purges them with the store functions the
 * retention activities call (in the workflow's default batches, then VACUUM); three times, as three
 * days of the same volume would. Prints row counts and sizes (pg_total_relation_size: table, TOAST
 * and indexes) before each purge, after it, and after its VACUUM.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RemovedCounts, RetentionCursor } from '../activities/retention';
import type { Db } from '../src/store/db';
import { migrate } from '../src/store/migrations';
import { openPostgres } from '../src/store/pg';
import { openPglite } from '../src/store/pglite';
import { RetentionStore } from '../src/store/retention';
import { eventData } from './scenarios';

const EXPIRED_EVENTS = 25_000;
const RECENT_EVENTS = 2_500;
const FANOUT = 4;
/** The retention workflow's default batch. */
const BATCH_SIZE = 1_000;
const TABLES = ['events', 'deliveries', 'attempts'] as const;
/** Purge cycles: the first shows what a purge frees, the next ones that the freed space is written over. */
const DAYS = 3;

/** Writes `events` events `ageDays` old, each delivered to FANOUT subscriptions with one attempt. */
async function fill(db: Db, prefix: string, events: number, ageDays: number): Promise<void> {
  const data = JSON.stringify(eventData('retention'));
  const at = `now() - interval '${ageDays} days'`;
  await db.query(
    `INSERT INTO events (id, type, data, data_json, fingerprint, created_at, dispatched_at, delivery_count)
     SELECT '${prefix}evt_' || i, 'order.created', $1::jsonb, $1, md5(i::text), ${at}, ${at}, ${FANOUT}
     FROM generate_series(1, $2) i`,
    [data, events],
  );
  await db.query(
    `INSERT INTO deliveries (id, event_id, event_type, subscription_id, url, status, attempt_count, workflow_id, created_at, updated_at)
     SELECT '${prefix}dlv_' || i || '_' || s, '${prefix}evt_' || i, 'order.created', 'sub_' || s,
       'https://receiver' || s || '.example.com/webhooks', 'succeeded', 1,
       'delivery/${prefix}evt_' || i || '/sub_' || s, ${at}, ${at}
     FROM generate_series(1, $1) i, generate_series(1, ${FANOUT}) s`,
    [events],
  );
  await db.query(
    `INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body)
     SELECT '${prefix}dlv_' || i || '_' || s, 1, ${at}, 42, 200, '{"received":true}'
     FROM generate_series(1, $1) i, generate_series(1, ${FANOUT}) s`,
    [events],
  );
}

async function report(db: Db, label: string): Promise<void> {
  const line = [label.padEnd(13)];
  let total = 0;
  for (const table of TABLES) {
    const rows = await db.query<{ n: number; heap: string; indexes: string; bytes: string }>(
      `SELECT (SELECT count(*)::int FROM ${table}) AS n, pg_table_size('${table}')::text AS heap,
         pg_indexes_size('${table}')::text AS indexes, pg_total_relation_size('${table}')::text AS bytes`,
    );
    const { n, heap, indexes, bytes } = rows[0] as { n: number; heap: string; indexes: string; bytes: string };
    total += Number(bytes);
    line.push(
      `${table} ${String(n).padStart(6)} rows ${mb(Number(bytes))} (${mb(Number(heap))} + idx ${mb(Number(indexes))})`,
    );
  }
  line.push(`3 tables ${mb(total)}`);
  process.stdout.write(`${line.join(' | ')}\n`);
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** Purges as the retention workflow does: deliveries, then events, batch after batch. */
async function purge(retention: RetentionStore, cutoff: string): Promise<{ removed: RemovedCounts; batches: number }> {
  const removed = { events: 0, deliveries: 0, attempts: 0 };
  let batches = 0;
  for (const table of ['deliveries', 'events'] as const) {
    let after: RetentionCursor | null = null;
    do {
      const batch = await retention.purgeBatch({ table, cutoff, after, limit: BATCH_SIZE });
      removed.events += batch.removed.events;
      removed.deliveries += batch.removed.deliveries;
      removed.attempts += batch.removed.attempts;
      batches += 1;
      after = batch.next;
    } while (after !== null);
  }
  return { removed, batches };
}

async function main(): Promise<void> {
  const url = process.argv[2];
  const dir = url ? undefined : await mkdtemp(path.join(os.tmpdir(), 'webhooks-retention-'));
  const db = url ? await openPostgres(url) : await openPglite(path.join(dir as string, 'store'));
  const retention = new RetentionStore(db);
  try {
    await migrate(db);
    process.stdout.write(
      `${url ? 'PostgreSQL' : 'PGlite on disk'}: ${EXPIRED_EVENTS * FANOUT} expired deliveries (${EXPIRED_EVENTS} events × ${FANOUT}, one attempt each), ${RECENT_EVENTS * FANOUT} recent that stay\n`,
    );
    await fill(db, 'recent_', RECENT_EVENTS, 1);
    for (let day = 1; day <= DAYS; day += 1) {
      // Each day as many deliveries expire as were written: the store should stop growing.
      await fill(db, `day${day}_`, EXPIRED_EVENTS, 40);
      await report(db, `day ${day}: before`);
      const t0 = performance.now();
      const { removed, batches } = await purge(retention, new Date(Date.now() - 30 * 86_400_000).toISOString());
      const purged = performance.now();
      await report(db, `day ${day}: purged`);
      await retention.reclaimSpace();
      const vacuumed = performance.now();
      await report(db, `day ${day}: VACUUM`);
      process.stdout.write(
        `day ${day}: removed ${removed.events} events, ${removed.deliveries} deliveries, ${removed.attempts} attempts in ${batches} batches of ${BATCH_SIZE}: ${seconds(purged - t0)} (${Math.round(removed.deliveries / ((purged - t0) / 1000))} deliveries/s); VACUUM ${seconds(vacuumed - purged)}\n`,
      );
    }
  } finally {
    await db.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
