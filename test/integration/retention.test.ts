/**
 * Retention (WEBHOOKS_RETENTION) end to end: the retention workflow on a real Temporal dev server,
 * run by the service's worker against a PGlite store, with rows back-dated by SQL past a one-day
 * retention; the schedule that runs it daily; the embedded dev server's namespace retention.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection, ScheduleNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer } from '../../devtools/temporal-dev-server';
import { loadConfig } from '../../src/config';
import {
  ensureRetentionSchedule,
  RETENTION_SCHEDULE_ID,
  type RetentionScheduleSettings,
} from '../../src/temporal/retention-schedule';
import type { retentionWorkflow } from '../../workflows';
import type { RetentionResult } from '../../workflows/retention';
import { startHarness, type Harness } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { always, TestReceiver } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

const DAY_MS = 86_400_000;
/** Events with one failed delivery of two attempts each, three days old, written by SQL. */
const BULK = 30;

let env: TestWorkflowEnvironment;
let h: Harness;
let receiver: TestReceiver;

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env, attemptTimeoutMs: 1_000 });
  receiver = await TestReceiver.start(always(200));
  await h.call('POST', '/v1/event-types', { id: 'order.created', description: 'order.created' });
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await h?.close();
  await env?.teardown();
});

async function subscribe(paused: boolean): Promise<string> {
  const res = await h.call('POST', '/v1/subscriptions', { url: receiver.url, eventTypes: ['order.created'], paused });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function publish(): Promise<string> {
  const res = await h.call('POST', '/v1/events', { type: 'order.created', data: { at: Date.now() } });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

async function deliveriesOf(eventId: string): Promise<Array<{ id: string; status: string; subscriptionId: string }>> {
  return (await h.call('GET', `/v1/deliveries?eventId=${eventId}`)).body.data;
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const rows = await h.store.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params);
  return rows[0]?.n ?? 0;
}

/** Moves rows into the past by SQL, as if written `days` ago. */
async function backdate(table: 'events' | 'deliveries', ids: readonly string[], days: number, columns: string[]) {
  const sets = columns.map((column) => `${column} = ${column} - $2 * interval '1 day'`).join(', ');
  await h.store.db.query(`UPDATE ${table} SET ${sets} WHERE id = ANY($1::text[])`, [ids, days]);
}

test('removes what expired in bounded batches over several runs; keeps pending deliveries, their events, and what changed since', async () => {
  const active = await subscribe(false);
  // Delivered, then everything about it two days old: goes.
  const gone = await publish();
  await subscribe(true); // paused: the deliveries of the events below to it stay pending
  // Delivered to one subscription, pending for the paused one: the delivered one goes, the rest stays.
  const withPending = await publish();
  // Created two days ago but changed (e.g. resent) since: stays, and so does its event.
  const changedSince = await publish();
  // New: stays.
  const fresh = await publish();
  const delivered = new Map<string, string>();
  for (const eventId of [gone, withPending, changedSince, fresh]) {
    const deliveries = await deliveriesOf(eventId);
    expect(deliveries).toHaveLength(eventId === gone ? 1 : 2);
    const toActive = deliveries.find((delivery) => delivery.subscriptionId === active);
    expect((await h.finished(toActive?.id ?? '')).status).toBe('succeeded');
    delivered.set(eventId, toActive?.id ?? '');
  }
  const old = [gone, withPending, changedSince];
  await backdate('events', old, 2, ['created_at']);
  await backdate(
    'deliveries',
    [gone, withPending].flatMap((id) => [delivered.get(id) ?? '']),
    2,
    ['created_at', 'updated_at'],
  );
  await h.store.db.query(
    `UPDATE deliveries SET created_at = created_at - interval '2 days' WHERE event_id = ANY($1::text[]) AND status = 'pending'`,
    [[withPending, changedSince]],
  );
  await backdate('deliveries', [delivered.get(changedSince) ?? ''], 2, ['created_at']);
  // Old events the outbox has not finished with: never removed (its claim keeps the relay away).
  await h.store.db.query(
    `INSERT INTO events (id, type, data, fingerprint, created_at, dispatch_claimed_until)
     VALUES ('evt_undispatched', 'order.created', '{}', 'x', now() - interval '2 days', now() + interval '1 day')`,
  );
  // Bulk: three days old, failed, two attempts each.
  await h.store.db.exec(`
    INSERT INTO events (id, type, data, fingerprint, created_at, dispatched_at)
      SELECT 'evt_bulk_' || i, 'order.created', '{}', 'x', now() - interval '3 days', now() - interval '3 days'
      FROM generate_series(1, ${BULK}) i;
    INSERT INTO deliveries (id, event_id, event_type, url, status, attempt_count, workflow_id, created_at, updated_at)
      SELECT 'dlv_bulk_' || i, 'evt_bulk_' || i, 'order.created', 'https://example.com/', 'failed', 2,
        'delivery/evt_bulk_' || i || '/gone', now() - interval '3 days', now() - interval '3 days'
      FROM generate_series(1, ${BULK}) i;
    INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms)
      SELECT 'dlv_bulk_' || i, a, now() - interval '3 days', 5 FROM generate_series(1, ${BULK}) i, generate_series(1, 2) a;
  `);
  const removedDeliveries = [...[gone, withPending].map((id) => delivered.get(id) ?? '')];
  const attemptsOfRemoved =
    (await count('attempts WHERE delivery_id = ANY($1::text[])', [removedDeliveries])) + BULK * 2;

  // Batches of 4 rows, 5 batches a run: 35 old deliveries and 34 old events take 18 batches, 4 runs.
  const handle = await h.client.workflow.start<typeof retentionWorkflow>('retentionWorkflow', {
    taskQueue: h.taskQueue,
    workflowId: `retention-test-${Date.now()}`,
    args: [{ retentionMs: DAY_MS, batchSize: 4, batchesPerRun: 5 }],
  });
  const result: RetentionResult = await handle.result();
  expect(result.retention).toBe('24h');
  expect(result.removed).toEqual({ events: BULK + 1, deliveries: BULK + 2, attempts: attemptsOfRemoved });
  expect(result.batches).toBe(18);
  expect(Date.parse(result.cutoff)).toBeLessThan(Date.now() - DAY_MS + 60_000);
  const firstRun = await h.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe();
  expect(firstRun.status.name).toBe('CONTINUED_AS_NEW');
  const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  expect(metadata.currentDetails).toContain(
    `done: ${BULK + 1} events, ${BULK + 2} deliveries, ${attemptsOfRemoved} attempts removed`,
  );

  expect((await h.call('GET', `/v1/events/${gone}`)).status).toBe(404);
  expect((await h.call('GET', `/v1/deliveries/${delivered.get(gone) ?? ''}`)).status).toBe(404);
  const kept = await h.call('GET', `/v1/events/${withPending}`);
  expect(kept.status).toBe(200);
  expect((await deliveriesOf(withPending)).map((delivery) => delivery.status)).toEqual(['pending']);
  expect((await deliveriesOf(changedSince)).map((delivery) => delivery.status).sort()).toEqual([
    'pending',
    'succeeded',
  ]);
  expect((await deliveriesOf(fresh)).map((delivery) => delivery.status).sort()).toEqual(['pending', 'succeeded']);
  expect(await count(`events WHERE id = 'evt_undispatched'`)).toBe(1);
  expect(await count(`events WHERE id LIKE 'evt_bulk_%'`)).toBe(0);
  expect(await count(`attempts WHERE delivery_id LIKE 'dlv_bulk_%'`)).toBe(0);

  // Nothing left to remove: a second purge looks at the kept rows once and removes nothing.
  const again = await h.client.workflow.execute<typeof retentionWorkflow>('retentionWorkflow', {
    taskQueue: h.taskQueue,
    workflowId: `retention-test-again-${Date.now()}`,
    args: [{ retentionMs: DAY_MS }],
  });
  expect(again.removed).toEqual({ events: 0, deliveries: 0, attempts: 0 });
}, 60_000);

describe('the schedule', () => {
  afterAll(async () => {
    await h.client.schedule
      .getHandle(RETENTION_SCHEDULE_ID)
      .delete()
      .catch((error: unknown) => {
        if (!(error instanceof ScheduleNotFoundError)) throw error;
      });
  });

  test('is created once when two processes create it at once, and follows a changed retention', async () => {
    const ours: RetentionScheduleSettings = { taskQueue: h.taskQueue, retentionMs: 30 * DAY_MS };
    const changes = await Promise.all([
      ensureRetentionSchedule(h.client, ours),
      ensureRetentionSchedule(h.client, ours),
    ]);
    expect(changes.sort()).toEqual(['created', 'unchanged']);
    const schedule = h.client.schedule.getHandle(RETENTION_SCHEDULE_ID);
    const described = await schedule.describe();
    expect(described.action.taskQueue).toBe(h.taskQueue);
    expect(described.action.args).toEqual([{ retentionMs: 30 * DAY_MS }]);
    expect(described.spec.calendars).toEqual([expect.objectContaining({ hour: [{ start: 3, end: 3, step: 1 }] })]);
    const listed: string[] = [];
    for await (const summary of h.client.schedule.list()) listed.push(summary.scheduleId);
    expect(listed.filter((id) => id === RETENTION_SCHEDULE_ID)).toHaveLength(1);

    expect(await ensureRetentionSchedule(h.client, ours)).toBe('unchanged');
    expect(await ensureRetentionSchedule(h.client, { ...ours, retentionMs: 7 * DAY_MS })).toBe('updated');
    expect((await schedule.describe()).action.args).toEqual([{ retentionMs: 7 * DAY_MS }]);

    // Its action is a retention workflow this worker runs.
    await schedule.trigger();
    const started = await waitFor(
      async () => (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId,
      'the schedule to start a workflow',
      10_000,
      100,
    );
    const result: RetentionResult = await h.client.workflow.getHandle(started).result();
    expect(result.retention).toBe('168h');
  }, 60_000);
});

test('WEBHOOKS_RETENTION: a duration of at least a minute, 30 days by default', () => {
  expect(loadConfig({}).retentionMs).toBe(30 * DAY_MS);
  expect(loadConfig({ WEBHOOKS_RETENTION: '1m' }).retentionMs).toBe(60_000);
  expect(() => loadConfig({ WEBHOOKS_RETENTION: '30s' })).toThrow(/WEBHOOKS_RETENTION/);
  expect(() => loadConfig({ WEBHOOKS_RETENTION: 'forever' })).toThrow(/WEBHOOKS_RETENTION/);
});

test('the embedded dev server keeps closed workflows as long as WEBHOOKS_RETENTION says', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-retention-'));
  const server = await startDevServer({
    cliPath: process.env.TEMPORAL_CLI_PATH ?? '',
    dbFile: path.join(dir, 'temporal.db'),
    port: await freePort(),
    uiPort: await freePort(),
    namespace: 'default',
    searchAttributes: {},
    namespaceRetentionMs: 30 * DAY_MS,
    headless: true,
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  try {
    const connection = await Connection.connect({ address: server.address });
    try {
      const { config } = await connection.workflowService.describeNamespace({ namespace: 'default' });
      expect(Number(config?.workflowExecutionRetentionTtl?.seconds)).toBe((30 * DAY_MS) / 1_000);
    } finally {
      await connection.close();
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
