/**
 * A large fan-out: the event is accepted alone (a fast 202), and its deliveries are written and
 * started in chunks afterwards, by the dispatcher or, after a crash, by the outbox relay.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { createLogger } from '../../src/logger';
import { createStore, type Store } from '../../src/store';
import type { Db } from '../../src/store/db';
import { INLINE_FANOUT_LIMIT, type NewEvent } from '../../src/store/events';
import { migrate } from '../../src/store/migrations';
import { openPglite } from '../../src/store/pglite';
import { DeliveryDispatcher } from '../../src/temporal/dispatcher';
import { DEFAULT_RETRY_POLICY } from '../../core/retry-policy';

let db: Db;
let store: Store;

beforeAll(async () => {
  db = await openPglite(undefined);
  await migrate(db);
  store = createStore(db);
}, 60_000);

afterAll(async () => {
  await db?.close();
});

const unique = (): string => randomBytes(5).toString('hex');

async function subscribe(type: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const sub = await store.subscriptions.create({
      url: `https://hooks.example.com/${i}`,
      eventTypes: [type],
      accountId: null,
      active: true,
      description: '',
      headers: {},
      secret: `whsec_${randomBytes(32).toString('base64')}`,
      retryPolicy: DEFAULT_RETRY_POLICY,
    });
    ids.push(sub.id);
  }
  return ids;
}

const newEvent = (type: string, extra: Partial<NewEvent> = {}): NewEvent => ({
  id: `evt-${unique()}`,
  type,
  accountId: null,
  data: { big: true },
  callbackUrl: null,
  callbackSecret: null,
  fingerprint: 'fp',
  ...extra,
});

const rowsOf = async (eventId: string) =>
  db.query<{ subscription_id: string | null }>('SELECT subscription_id FROM deliveries WHERE event_id = $1', [eventId]);

test('up to the inline limit, the deliveries are written with the event', async () => {
  const type = `small.${unique()}`;
  await subscribe(type, 3);
  const ingested = await store.events.ingest(newEvent(type), 30_000);
  expect(ingested).toMatchObject({ created: true, expanding: false, deliveryCount: 3 });
  expect(ingested.plans).toHaveLength(3);
  expect(await store.events.expandNext(ingested.event.id, 30_000)).toBeNull();
});

test('a larger fan-out is accepted alone, then written chunk by chunk, once per subscription', async () => {
  const type = `large.${unique()}`;
  const subscriptions = await subscribe(type, INLINE_FANOUT_LIMIT + 50);
  const ingested = await store.events.ingest(
    newEvent(type, { callbackUrl: 'https://callback.example.com/', callbackSecret: 'whsec_x' }),
    30_000,
  );
  expect(ingested).toMatchObject({ created: true, expanding: true, deliveryCount: subscriptions.length + 1 });
  // Only the callback delivery is written with the event.
  expect(ingested.plans.map((plan) => plan.subscriptionId)).toEqual([null]);
  expect(await rowsOf(ingested.event.id)).toHaveLength(1);

  // A subscription created after the event does not receive it.
  await subscribe(type, 1);
  const written: string[] = [];
  for (
    let chunk = await store.events.expandNext(ingested.event.id, 30_000, 60);
    chunk !== null;
    chunk = await store.events.expandNext(ingested.event.id, 30_000, 60)
  ) {
    expect(chunk.length).toBeLessThanOrEqual(60);
    written.push(...chunk.map((plan) => plan.subscriptionId as string));
  }
  expect(written.sort()).toEqual([...subscriptions].sort());
  expect(await rowsOf(ingested.event.id)).toHaveLength(subscriptions.length + 1);
  // Replaying the same event reports what was written.
  expect(
    (
      await store.events.ingest(
        newEvent(type, {
          id: ingested.event.id,
          callbackUrl: 'https://callback.example.com/',
          callbackSecret: 'whsec_x',
        }),
        30_000,
      )
    ).deliveryCount,
  ).toBe(subscriptions.length + 1);
});

test('the dispatcher writes and starts every delivery, and the relay finishes an expansion cut short', async () => {
  const type = `relay.${unique()}`;
  const subscriptions = await subscribe(type, INLINE_FANOUT_LIMIT + 30);
  const started = new Set<string>();
  const client = {
    workflow: { start: async (_fn: unknown, options: { workflowId: string }) => void started.add(options.workflowId) },
  } as unknown as Client;
  const dispatcher = new DeliveryDispatcher({
    client,
    events: store.events,
    logger: createLogger('silent'),
    taskQueue: 'q',
    attemptTimeoutMs: 1_000,
    claimMs: 1,
  });

  // The process that accepted the first event wrote one chunk and died.
  const first = await store.events.ingest(newEvent(type), 1);
  expect((await store.events.expandNext(first.event.id, 1, 40))?.length).toBe(40);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await dispatcher.relayOnce()).toBeGreaterThanOrEqual(1);
  const second = await store.events.ingest(newEvent(type), 30_000);
  await dispatcher.dispatch(second.event.id, second.plans, second.expanding);

  for (const ingested of [first, second]) {
    expect(await rowsOf(ingested.event.id)).toHaveLength(subscriptions.length);
    const [event] = await db.query<{ dispatched_at: Date | null; expansion_cursor: string | null }>(
      'SELECT dispatched_at, expansion_cursor FROM events WHERE id = $1',
      [ingested.event.id],
    );
    expect(event?.dispatched_at).not.toBeNull();
    expect(event?.expansion_cursor).toBeNull();
  }
  expect(started.size).toBe(2 * subscriptions.length);
});
