/**
 * The dispatcher and the outbox, against a real store (PGlite) and a Temporal client stand-in:
 * - a large fan-out is accepted alone (a fast 202), and its deliveries are written and started in
 *   chunks afterwards, by the dispatcher or, after a crash, by the outbox relay;
 * - backpressure: against slow starts, a burst is accepted at once, at most the gate's bound of
 *   starts is in flight, the excess waits in the outbox (not in memory), and the relay starts it
 *   oldest first until the outbox is empty.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { createLogger } from '../../src/logger';
import { createStore, type Store } from '../../src/store';
import type { Db } from '../../src/store/db';
import { INLINE_FANOUT_LIMIT, type NewEvent } from '../../src/store/events';
import { migrate } from '../../src/store/migrations';
import { openPglite } from '../../src/store/pglite';
import { DeliveryDispatcher } from '../../src/temporal/dispatcher';
import { DEFAULT_RETRY_POLICY } from '../../core/retry-policy';
import { waitFor } from '../helpers/wait';
import { testKeyRing } from '../helpers/key-ring';

let db: Db;
let store: Store;

beforeAll(async () => {
  db = await openPglite(undefined);
  await migrate(db);
  store = createStore(db, testKeyRing());
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
      paused: false,
      throttleRate: null,
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

test('a burst waits in the outbox, at most the bound of starts in flight, and is started oldest first', async () => {
  const type = `burst.${unique()}`;
  await subscribe(type, 1);
  // Temporal as it answers when saturated: each start takes 40 ms.
  const started: string[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const client = {
    workflow: {
      start: async (_workflow: unknown, options: { workflowId: string }) => {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        await sleep(40);
        inFlight -= 1;
        started.push(options.workflowId.split('/')[1] as string);
      },
    },
  } as unknown as Client;
  const dispatcher = new DeliveryDispatcher({
    client,
    events: store.events,
    logger: createLogger('silent'),
    taskQueue: 'q',
    attemptTimeoutMs: 1_000,
    relayIntervalMs: 50,
    relayBatch: 20,
    startGate: { initial: 4, max: 4 },
  });
  dispatcher.startRelay();
  try {
    // 150 events, as fast as the API would take them: each ingested with the claim the
    // dispatcher asks for, then handed to it.
    const ids: string[] = [];
    for (let n = 0; n < 150; n += 1) {
      const claimMs = dispatcher.claimForNewEvent;
      const id = `evt-burst-${String(n).padStart(3, '0')}-${unique()}`;
      const ingested = await store.events.ingest(newEvent(type, { id }), claimMs);
      ids.push(ingested.event.id);
      dispatcher.dispatchSoon(ingested.event.id, ingested.plans, ingested.expanding, claimMs > 0);
    }
    // Most of the burst waits in the outbox, free for any API process's relay to take, not
    // claimed by this one and queued in its memory.
    const [{ n: waiting } = { n: 0 }] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events
       WHERE dispatched_at IS NULL AND type = $1 AND (dispatch_claimed_until IS NULL OR dispatch_claimed_until <= now())`,
      [type],
    );
    expect(waiting).toBeGreaterThan(ids.length / 2);

    await waitFor(() => (started.length === ids.length ? true : undefined), 'every event to be started', 30_000);
    expect(new Set(started).size).toBe(ids.length);
    expect(mostInFlight).toBeLessThanOrEqual(4);
    // Oldest first: an event started before another created more than two relay passes (40
    // events) earlier is an overtaking the outbox would not allow.
    const position = new Map(started.map((id, index) => [id, index]));
    const overtaken = ids.filter((id, n) =>
      ids.slice(n + 41).some((later) => position.get(later)! < position.get(id)!),
    );
    expect(overtaken).toEqual([]);
    // Drained: the next event goes straight out again.
    await waitFor(() => (dispatcher.claimForNewEvent > 0 ? true : undefined), 'the backlog to clear', 5_000);
  } finally {
    await dispatcher.stop();
  }
});
