/**
 * Backpressure in the dispatcher, against a real store (PGlite) and a Temporal client stand-in
 * whose starts are slow: a burst of events is accepted at once, at most the gate's bound of
 * starts is in flight, the excess waits in the outbox (not in memory), and the relay starts it
 * oldest first until the outbox is empty.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { DEFAULT_RETRY_POLICY } from '../../core/retry-policy';
import { createLogger } from '../../src/logger';
import { createStore, type Store } from '../../src/store';
import type { Db } from '../../src/store/db';
import { migrate } from '../../src/store/migrations';
import { openPglite } from '../../src/store/pglite';
import { DeliveryDispatcher } from '../../src/temporal/dispatcher';
import { waitFor } from '../helpers/wait';

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

test('a burst waits in the outbox, at most the bound of starts in flight, and is started oldest first', async () => {
  const type = `burst.${randomBytes(4).toString('hex')}`;
  await store.subscriptions.create({
    url: 'https://hooks.example.com/in',
    eventTypes: [type],
    accountId: null,
    active: true,
    description: '',
    headers: {},
    secret: `whsec_${randomBytes(32).toString('base64')}`,
    retryPolicy: DEFAULT_RETRY_POLICY,
  });
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
    startGate: { initial: 4, max: 4 },
  });
  dispatcher.startRelay();
  try {
    // 150 events, as fast as the API would take them: each ingested with the claim the
    // dispatcher asks for, then handed to it.
    const ids: string[] = [];
    for (let n = 0; n < 150; n += 1) {
      const claimMs = dispatcher.claimForNewEvent;
      const ingested = await store.events.ingest(
        {
          id: `evt-burst-${String(n).padStart(3, '0')}-${randomBytes(3).toString('hex')}`,
          type,
          accountId: null,
          data: { n },
          callbackUrl: null,
          callbackSecret: null,
          fingerprint: 'fp',
        },
        claimMs,
      );
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
    expect(waiting).toBeGreaterThan(100);

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
