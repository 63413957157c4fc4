/**
 * The store against both backends it ships with: PGlite in memory and a real PostgreSQL
 * (a fresh database on the server global-setup.ts starts, dropped afterwards).
 */
import { randomBytes } from 'node:crypto';
import type { DeliveryStatus } from '../../core/model';
import { newId } from '../../core/ids';
import { deliveryWorkflowId } from '../../core/workflow-ids';
import { ConflictError, ValidationError } from '../../src/errors';
import { createStore, type Store } from '../../src/store';
import type { Db } from '../../src/store/db';
import { DeliveryStore } from '../../src/store/deliveries';
import { EventStore, type NewEvent } from '../../src/store/events';
import { migrate } from '../../src/store/migrations';
import { createTestDatabase } from '../helpers/postgres';
import { openPglite } from '../../src/store/pglite';
import type { NewSubscription } from '../../src/store/subscriptions';
import { DEFAULT_RETRY_POLICY, withDefaults } from '../../core/retry-policy';
import { FRESH_HEALTH } from '../helpers/expected';
import { testKeyRing } from '../helpers/key-ring';

interface Backend {
  readonly db: Db;
  /** Drops what the backend created. */
  readonly dispose: () => Promise<void>;
}

async function pgliteBackend(): Promise<Backend> {
  const db = await openPglite(undefined);
  return { db, dispose: () => db.close() };
}

/** A database of its own on the test server, so runs never see each other's rows. */
async function postgresBackend(): Promise<Backend> {
  const database = await createTestDatabase('store_test');
  return { db: database.db, dispose: () => database.drop() };
}

const backends: Array<[string, () => Promise<Backend>]> = [['PGlite', pgliteBackend]];
if (process.env.TEST_DATABASE_URL || process.env.CI) {
  backends.push(['PostgreSQL', postgresBackend]);
} else {
  console.warn(
    'store.test.ts: TEST_DATABASE_URL is unset, so the PostgreSQL half of the store suite is SKIPPED (only PGlite runs).',
  );
  test.skip('store on PostgreSQL (TEST_DATABASE_URL is unset)', () => undefined);
}

/** A suffix that keeps one test's rows apart from the others' in the shared database. */
const unique = (): string => randomBytes(5).toString('hex');

describe.each(backends)('store on %s', (_name, open) => {
  let backend: Backend;
  let store: Store;
  let firstMigration: string[];

  beforeAll(async () => {
    backend = await open();
    firstMigration = await migrate(backend.db);
    store = createStore(backend.db, testKeyRing());
  }, 60_000);

  afterAll(async () => {
    await backend?.dispose();
  });

  const subscription = (input: Partial<NewSubscription> & Pick<NewSubscription, 'eventTypes'>) =>
    store.subscriptions.create({
      url: 'https://hooks.example.com/in',
      accountId: null,
      active: true,
      paused: false,
      throttleRate: null,
      description: '',
      headers: {},
      secret: `whsec_${randomBytes(32).toString('base64')}`,
      retryPolicy: DEFAULT_RETRY_POLICY,
      ...input,
    });

  const event = (input: Partial<NewEvent> & Pick<NewEvent, 'type'>): NewEvent => ({
    id: `evt-${unique()}`,
    accountId: null,
    data: { n: 1 },
    callbackUrl: null,
    callbackSecret: null,
    fingerprint: 'fp-1',
    ...input,
  });

  const deliveryRows = (eventId: string) =>
    backend.db.query<{
      subscription_id: string | null;
      url: string;
      status: DeliveryStatus;
      workflow_id: string;
      account_id: string | null;
    }>(
      'SELECT subscription_id, url, status, workflow_id, account_id FROM deliveries WHERE event_id = $1 ORDER BY subscription_id',
      [eventId],
    );

  /** The same database, listing the statements sent through it (not those of its transactions). */
  const countingDb = () => {
    const statements: string[] = [];
    const db: Db = {
      query: (sql, params) => {
        statements.push(sql);
        return backend.db.query(sql, params);
      },
      exec: (sql) => backend.db.exec(sql),
      transaction: (fn) => backend.db.transaction(fn),
      close: async () => undefined,
    };
    return { statements, db };
  };

  const claimedIds = async (limit: number, claimMs: number): Promise<string[]> =>
    (await store.events.claimUndispatched(limit, claimMs)).map((claimed) => claimed.id);

  describe('migrations', () => {
    test('apply once; running them again changes nothing', async () => {
      expect(firstMigration).toEqual([
        '001_initial',
        '002_api_keys_and_secret_rotation',
        '003_subscription_match_index',
        '004_fanout_expansion',
        '005_event_payload_text',
        '006_fast_path_run',
        '007_subscription_health',
        '008_subscription_paused',
        '009_subscription_throttle',
        '010_secrets_at_rest',
        '011_retention',
        '012_operations',
      ]);
      expect(await migrate(backend.db)).toEqual([]);
      const tables = await backend.db.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
      );
      expect(tables.map((row) => row.table_name)).toEqual([
        'api_keys',
        'attempts',
        'deliveries',
        'event_types',
        'events',
        'operation_items',
        'operations',
        'schema_migrations',
        'subscriptions',
      ]);
    });

    test('concurrent migrators apply each migration once', async () => {
      const results = await Promise.all([migrate(backend.db), migrate(backend.db)]);
      expect(results).toEqual([[], []]);
      const rows = await backend.db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      expect(rows[0]?.n).toBe(firstMigration.length);
    });
  });

  describe('event types', () => {
    test('create, duplicate, list, unknown', async () => {
      const id = `order.created.${unique()}`;
      const created = await store.eventTypes.create({ id, description: 'An order was created' });
      expect(created).toEqual({ id, description: 'An order was created', createdAt: expect.any(Date) });
      expect(await store.eventTypes.create({ id, description: 'again' })).toBeUndefined();

      const other = `a.first.${unique()}`;
      await store.eventTypes.create({ id: other, description: '' });
      const listed = await store.eventTypes.list();
      const ids = listed.map((type) => type.id);
      expect(ids).toEqual(expect.arrayContaining([id, other]));
      expect(ids).toEqual([...ids].sort());
      expect(listed.find((type) => type.id === id)?.description).toBe('An order was created');

      expect(await store.eventTypes.unknown([id, 'nope.one', other, 'nope.two'])).toEqual(['nope.one', 'nope.two']);
      expect(await store.eventTypes.unknown([])).toEqual([]);
    });
  });

  describe('subscriptions', () => {
    test('create, get, getSecret: reads never carry the secret', async () => {
      const accountId = `acct-${unique()}`;
      const secret = `whsec_${randomBytes(24).toString('base64')}`;
      const retryPolicy = withDefaults({ initialIntervalMs: 300_000, backoffCoefficient: 1, maximumAttempts: 15 });
      const created = await subscription({
        url: 'https://a.example.com/hook',
        eventTypes: ['order.created', 'order.paid'],
        accountId,
        description: 'orders',
        headers: { 'x-tenant': 't1' },
        secret,
        retryPolicy,
      });
      expect(created).toEqual({
        id: expect.stringMatching(/^sub_[0-9a-z]{26}$/),
        url: 'https://a.example.com/hook',
        eventTypes: ['order.created', 'order.paid'],
        accountId,
        active: true,
        paused: false,
        throttleRate: null,
        description: 'orders',
        headers: { 'x-tenant': 't1' },
        retryPolicy,
        health: FRESH_HEALTH,
        createdAt: expect.any(Date),
        updatedAt: expect.any(Date),
      });
      expect(created).not.toHaveProperty('secret');
      expect(await store.subscriptions.get(created.id)).toEqual(created);
      expect(await store.subscriptions.getSecret(created.id)).toBe(secret);
      expect(await store.subscriptions.get(newId('sub'))).toBeUndefined();
      expect(await store.subscriptions.getSecret(newId('sub'))).toBeUndefined();
    });

    test('update changes only the given fields and bumps updatedAt', async () => {
      const created = await subscription({ eventTypes: ['a'], accountId: `acct-${unique()}`, headers: { 'x-a': '1' } });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const updated = await store.subscriptions.update(created.id, {
        url: 'https://b.example.com/new',
        headers: { 'x-b': '2' },
        retryPolicy: withDefaults({ maximumAttempts: 3 }),
      });
      expect(updated).toEqual({
        ...created,
        url: 'https://b.example.com/new',
        headers: { 'x-b': '2' },
        retryPolicy: withDefaults({ maximumAttempts: 3 }),
        updatedAt: expect.any(Date),
      });
      expect(updated?.updatedAt.getTime()).toBeGreaterThan(created.updatedAt.getTime());

      const deactivated = await store.subscriptions.update(created.id, {
        active: false,
        eventTypes: ['b', 'c'],
        description: 'off',
      });
      expect(deactivated).toMatchObject({
        active: false,
        eventTypes: ['b', 'c'],
        description: 'off',
        url: 'https://b.example.com/new',
      });
      expect(await store.subscriptions.update(newId('sub'), { active: true })).toBeUndefined();
    });

    test('delete', async () => {
      const created = await subscription({ eventTypes: ['a'] });
      expect(await store.subscriptions.delete(created.id)).toBe(true);
      expect(await store.subscriptions.get(created.id)).toBeUndefined();
      expect(await store.subscriptions.delete(created.id)).toBe(false);
    });

    test('list filters by eventType (with "*" subscriptions), accountId and active', async () => {
      const accountId = `acct-${unique()}`;
      const orders = await subscription({ eventTypes: ['order.created', 'order.paid'], accountId });
      const everything = await subscription({ eventTypes: ['*'], accountId });
      const residents = await subscription({ eventTypes: ['resident.moved'], accountId });
      const inactive = await subscription({ eventTypes: ['order.created'], accountId, active: false });
      const elsewhere = await subscription({ eventTypes: ['order.created'], accountId: `acct-${unique()}` });

      const ids = async (filter: { eventType?: string; active?: boolean }): Promise<string[]> =>
        (await store.subscriptions.list({ accountId, limit: 100, ...filter })).items.map((item) => item.id);

      expect(await ids({})).toEqual([orders.id, everything.id, residents.id, inactive.id]);
      expect(await ids({ eventType: 'order.created' })).toEqual([orders.id, everything.id, inactive.id]);
      expect(await ids({ eventType: 'order.created', active: true })).toEqual([orders.id, everything.id]);
      expect(await ids({ eventType: 'resident.moved' })).toEqual([everything.id, residents.id]);
      expect(await ids({ eventType: 'never.used' })).toEqual([everything.id]);
      expect(await ids({ active: false })).toEqual([inactive.id]);
      expect(await ids({})).not.toContain(elsewhere.id);
    });

    test('cursor pagination walks every page once, in id order', async () => {
      const accountId = `acct-${unique()}`;
      const created: string[] = [];
      for (let i = 0; i < 7; i += 1) created.push((await subscription({ eventTypes: ['a'], accountId })).id);

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.subscriptions.list({ accountId, limit: 3, cursor });
        seen.push(...page.items.map((item) => item.id));
        cursor = page.nextCursor ?? undefined;
        pages += 1;
      } while (cursor !== undefined);
      expect(pages).toBe(3);
      expect(seen).toEqual([...created].sort());

      const exact = await store.subscriptions.list({ accountId, limit: 7 });
      expect(exact).toMatchObject({ nextCursor: null });
      expect(exact.items).toHaveLength(7);
    });

    test('takeSendTurn: slots 1/rate apart; held slots send while the window has room (⌊rate⌋ in that many slots), three quarters of a slot apart at least, else wait for the next room; unthrottled is always now', async () => {
      // 2/s: slots 500 ms apart; at most 2 sends in any second.
      const created = await subscription({ eventTypes: ['order.created'], throttleRate: 2 });
      const turn = (heldSlotAt?: number) =>
        store.deliveries.takeSendTurn({ deliveryId: 'dlv_none', subscriptionId: created.id, heldSlotAt });
      const start = Date.now();
      const first = await turn();
      expect(first).toEqual({ kind: 'now', decision: expect.any(String) });
      const second = await turn();
      const third = await turn();
      if (second.kind !== 'wait' || third.kind !== 'wait') throw new Error('expected two reserved slots');
      expect(second.slotAt - start).toBeGreaterThanOrEqual(450);
      expect(second.slotAt - start).toBeLessThan(1_000);
      expect(third.slotAt - second.slotAt).toBeCloseTo(500, -1);
      // Woken at once (as late wakers bunch): the window has room for one more, but not yet: sends
      // are three quarters of a slot apart at least (then within a quarter slot).
      const spaced = await turn(second.slotAt);
      if (spaced.kind !== 'wait') throw new Error('expected a wait for the spacing');
      expect(spaced.slotAt - start).toBeGreaterThanOrEqual(365);
      expect(spaced.slotAt - start).toBeLessThan(525);
      await new Promise((resolve) => setTimeout(resolve, spaced.slotAt - Date.now()));
      expect(await turn(second.slotAt)).toMatchObject({ kind: 'now' });
      // Now full: the third keeps its place and waits for the next room (the first send leaving the window), within a quarter slot.
      const held = await turn(third.slotAt);
      if (held.kind !== 'wait') throw new Error('expected a wait');
      expect(held.slotAt - start).toBeGreaterThanOrEqual(950);
      expect(held.slotAt - start).toBeLessThan(1_250);
      // A new attempt takes the next free slot of the schedule.
      const fourth = await turn();
      if (fourth.kind !== 'wait') throw new Error('expected a reserved slot');
      expect(fourth.slotAt - third.slotAt).toBeCloseTo(500, -1);
      // Held for longer than a window: the next free slot at the end of the schedule.
      const stale = await turn(Date.now() - 2_000);
      if (stale.kind !== 'wait') throw new Error('expected a wait');
      expect(stale.slotAt - fourth.slotAt).toBeCloseTo(500, -1);

      const unthrottled = await subscription({ eventTypes: ['order.created'] });
      for (let i = 0; i < 3; i += 1)
        expect(await store.deliveries.takeSendTurn({ deliveryId: 'dlv_none', subscriptionId: unthrottled.id })).toEqual(
          {
            kind: 'now',
            decision: null,
          },
        );
    });

    test('takeSendTurn: a turn given back unused (withdrawn) leaves the window, and the attempt asking again takes its room', async () => {
      // 1/s: one send in any second.
      const created = await subscription({ eventTypes: ['order.created'], throttleRate: 1 });
      const ask = (request: { heldSlotAt?: number; withdrawn?: string } = {}) =>
        store.deliveries.takeSendTurn({ deliveryId: 'dlv_none', subscriptionId: created.id, ...request });
      const first = await ask();
      if (first.kind !== 'now' || first.decision === null) throw new Error('expected a turn now');
      await new Promise((resolve) => setTimeout(resolve, 800)); // past the spacing (750 ms at 1/s)
      // The window is full: a held slot waits for the next room...
      expect(await ask({ heldSlotAt: Date.now() })).toMatchObject({ kind: 'wait' });
      // ...unless the send that filled it is given back: then it sends at once, once.
      const retaken = await ask({ heldSlotAt: Date.now(), withdrawn: first.decision });
      expect(retaken).toEqual({ kind: 'now', decision: expect.any(String) });
      expect(await ask({ heldSlotAt: Date.now(), withdrawn: first.decision })).toMatchObject({ kind: 'wait' });
    });

    test('a forged cursor is a ValidationError', async () => {
      await expect(store.subscriptions.list({ limit: 10, cursor: 'bm90LWFuLWlk' })).rejects.toBeInstanceOf(
        ValidationError,
      );
    });
  });

  describe('events.ingest', () => {
    test('one pending delivery per matching active subscription: by type, account, wildcard', async () => {
      const type = `order.created.${unique()}`;
      const accountId = `acct-${unique()}`;
      const byType = await subscription({ eventTypes: [type] });
      const byAccount = await subscription({ eventTypes: [type], accountId });
      const wildcard = await subscription({ eventTypes: ['*'], accountId });
      await subscription({ eventTypes: [type], active: false });
      await subscription({ eventTypes: [type], accountId: `acct-${unique()}` });
      await subscription({ eventTypes: ['*'], accountId: `acct-${unique()}` });
      await subscription({ eventTypes: [`${type}.other`] });

      const input = event({ type, accountId });
      const ingested = await store.events.ingest(input, 60_000);
      expect(ingested.created).toBe(true);
      expect(ingested.deliveryCount).toBe(3);
      expect(ingested.event).toEqual({
        id: input.id,
        type,
        accountId,
        data: { n: 1 },
        callbackUrl: null,
        createdAt: expect.any(Date),
      });
      expect(ingested.plans.map((plan) => plan.subscriptionId).sort()).toEqual(
        [byType.id, byAccount.id, wildcard.id].sort(),
      );
      for (const plan of ingested.plans) {
        expect(plan).toMatchObject({
          deliveryId: expect.stringMatching(/^dlv_/),
          eventId: input.id,
          eventType: type,
          accountId,
          url: 'https://hooks.example.com/in',
        });
        expect(plan.retryPolicy).toEqual(DEFAULT_RETRY_POLICY);
      }

      const rows = await deliveryRows(input.id);
      expect(rows).toHaveLength(3);
      for (const row of rows) {
        expect(row).toMatchObject({
          status: 'pending',
          account_id: accountId,
          workflow_id: deliveryWorkflowId(input.id, row.subscription_id),
        });
      }
      expect(await store.events.get(input.id)).toEqual(ingested.event);
      expect(await store.events.deliveryCounts(input.id)).toEqual({
        total: 3,
        pending: 3,
        succeeded: 0,
        failed: 0,
        cancelled: 0,
      });
    });

    test('an event without an account reaches only vendor-level subscriptions', async () => {
      const type = `resident.moved.${unique()}`;
      const vendor = await subscription({ eventTypes: [type] });
      await subscription({ eventTypes: [type], accountId: `acct-${unique()}` });
      const ingested = await store.events.ingest(event({ type }), 60_000);
      expect(ingested.plans.map((plan) => plan.subscriptionId)).toEqual([vendor.id]);
    });

    test('the plan carries the subscription retry policy', async () => {
      const type = `t.${unique()}`;
      const retryPolicy = withDefaults({ initialIntervalMs: 300_000, backoffCoefficient: 1, maximumAttempts: 15 });
      await subscription({ eventTypes: [type], retryPolicy });
      const ingested = await store.events.ingest(event({ type }), 60_000);
      expect(ingested.plans[0]?.retryPolicy).toEqual(retryPolicy);
    });

    test('a callbackUrl adds a one-off delivery with no subscription', async () => {
      const type = `t.${unique()}`;
      const input = event({
        type,
        callbackUrl: 'https://caller.example.com/cb',
        callbackSecret: `whsec_${randomBytes(32).toString('base64')}`,
      });
      const ingested = await store.events.ingest(input, 60_000);
      expect(ingested.deliveryCount).toBe(1);
      expect(ingested.plans).toEqual([
        expect.objectContaining({
          subscriptionId: null,
          url: 'https://caller.example.com/cb',
          retryPolicy: DEFAULT_RETRY_POLICY,
        }),
      ]);
      expect(await deliveryRows(input.id)).toEqual([
        expect.objectContaining({ subscription_id: null, workflow_id: deliveryWorkflowId(input.id, null) }),
      ]);
      expect(ingested.event.callbackUrl).toBe('https://caller.example.com/cb');
    });

    test('no match: no deliveries, and the event needs no dispatch', async () => {
      const input = event({ type: `t.${unique()}` });
      const ingested = await store.events.ingest(input, 0);
      expect(ingested).toMatchObject({ created: true, deliveryCount: 0, plans: [] });
      expect(await claimedIds(1_000, 60_000)).not.toContain(input.id);
    });

    test('replaying the same event changes nothing and reports the same count', async () => {
      const type = `t.${unique()}`;
      await subscription({ eventTypes: [type] });
      await subscription({ eventTypes: [type] });
      const input = event({ type });
      const first = await store.events.ingest(input, 60_000);
      const again = await store.events.ingest(input, 60_000);
      expect(again).toEqual({
        event: first.event,
        created: false,
        deliveryCount: 2,
        callbackSecret: null,
        plans: [],
        expanding: false,
      });
      expect(await deliveryRows(input.id)).toHaveLength(2);
    });

    test('the same id with a different fingerprint is a ConflictError and writes nothing', async () => {
      const type = `t.${unique()}`;
      await subscription({ eventTypes: [type] });
      const input = event({ type });
      await store.events.ingest(input, 60_000);
      const error = await store.events
        .ingest({ ...input, data: { n: 2 }, fingerprint: 'fp-2' }, 60_000)
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as ConflictError).details).toEqual([{ path: 'id', message: expect.any(String) }]);
      expect((await store.events.get(input.id))?.data).toEqual({ n: 1 });
      expect(await deliveryRows(input.id)).toHaveLength(1);
    });

    test('two concurrent ingests of one id yield one set of deliveries', async () => {
      const type = `t.${unique()}`;
      await subscription({ eventTypes: [type] });
      await subscription({ eventTypes: ['*'], accountId: 'acct-concurrent' });
      await subscription({ eventTypes: [type], accountId: 'acct-concurrent' });
      const input = event({ type, accountId: 'acct-concurrent' });
      const results = await Promise.all([store.events.ingest(input, 60_000), store.events.ingest(input, 60_000)]);
      expect(results.map((result) => result.created).sort()).toEqual([false, true]);
      expect(results.map((result) => result.deliveryCount)).toEqual([3, 3]);
      expect(results.flatMap((result) => result.plans)).toHaveLength(3);
      expect(await deliveryRows(input.id)).toHaveLength(3);
    });

    test('events accepted together: their subscriptions read in one statement, the events written in another', async () => {
      const [type, other] = [`t.${unique()}`, `t.${unique()}`];
      await subscription({ eventTypes: [type] });
      await subscription({ eventTypes: [type, other], accountId: 'acct-together' });
      const { statements, db } = countingDb();
      const events = new EventStore(db, testKeyRing());
      const inputs = [
        event({ type, accountId: 'acct-together' }),
        event({ type }),
        event({ type: other, accountId: 'acct-together' }),
      ];
      const repeated = inputs[0] as NewEvent;
      const results = await Promise.all([...inputs, repeated].map((input) => events.ingest(input, 60_000)));
      expect(statements.filter((sql) => sql.includes('FROM subscriptions'))).toHaveLength(1);
      // The repeated id goes in a second statement, and finds the first written.
      expect(statements.filter((sql) => sql.includes('INSERT INTO events'))).toHaveLength(2);
      expect(results.map((result) => [result.created, result.deliveryCount, result.plans.length])).toEqual([
        [true, 2, 2],
        [true, 1, 1],
        [true, 1, 1],
        [false, 2, 0],
      ]);
      for (const [i, input] of inputs.entries()) {
        expect(await deliveryRows(input.id)).toHaveLength(results[i]?.deliveryCount ?? -1);
      }
    });

    test('an event the store refuses among others accepted together fails alone', async () => {
      const type = `t.${unique()}`;
      await subscription({ eventTypes: [type] });
      const good = event({ type });
      const bad = event({ type, dataJson: '[1e131072]' });
      const [goodResult, badResult] = await Promise.allSettled([
        store.events.ingest(good, 60_000),
        store.events.ingest(bad, 60_000),
      ]);
      expect(goodResult).toMatchObject({ status: 'fulfilled', value: { created: true, deliveryCount: 1 } });
      expect(badResult).toMatchObject({ status: 'rejected', reason: expect.any(ValidationError) });
      expect(await deliveryRows(good.id)).toHaveLength(1);
      expect(await store.events.get(bad.id)).toBeUndefined();
    });

    test('pendingPlans lists what is left to start', async () => {
      const type = `t.${unique()}`;
      await subscription({ eventTypes: [type] });
      await subscription({ eventTypes: [type] });
      const ingested = await store.events.ingest(event({ type }), 60_000);
      const [first, second] = ingested.plans;
      await store.deliveries.setStatus(first?.deliveryId as string, 'cancelled');
      const other = await store.events.ingest(event({ type }), 60_000);
      const plans = await store.events.pendingPlans([ingested.event.id, other.event.id, 'evt_none']);
      expect(plans.get(ingested.event.id)).toEqual([second]);
      expect(plans.get(other.event.id)).toEqual(other.plans);
      expect(plans.get('evt_none')).toEqual([]);
    });
  });

  describe('dispatch claims (the outbox)', () => {
    test('claimUndispatched takes lapsed claims only; markDispatched ends them; releaseClaim hands them back', async () => {
      const type = `t.${unique()}`;
      await subscription({ eventTypes: [type] });
      const held = await store.events.ingest(event({ type }), 60_000);
      const lapsed = await store.events.ingest(event({ type }), 0);

      const claimed = await claimedIds(1_000, 60_000);
      expect(claimed).toContain(lapsed.event.id);
      expect(claimed).not.toContain(held.event.id);
      expect(await claimedIds(1_000, 60_000)).not.toContain(lapsed.event.id);

      await store.events.releaseClaim(lapsed.event.id, 0);
      expect(await claimedIds(1_000, 60_000)).toContain(lapsed.event.id);

      await store.events.markDispatched([lapsed.event.id]);
      await store.events.releaseClaim(lapsed.event.id, 0);
      expect(await claimedIds(1_000, 0)).not.toContain(lapsed.event.id);
    });

    test('claimUndispatched returns the oldest first, and says which are large fan-outs still being written', async () => {
      const type = `t.${unique()}`;
      await subscription({ eventTypes: [type] });
      const ingested = [];
      for (let i = 0; i < 3; i += 1) ingested.push(await store.events.ingest(event({ type }), 0));
      const ours = new Set(ingested.map((one) => one.event.id));
      const claimed = (await store.events.claimUndispatched(1_000, 60_000)).filter((one) => ours.has(one.id));
      expect(claimed).toEqual(ingested.map((one) => ({ id: one.event.id, expanding: false })));
    });

    test('respects the limit', async () => {
      const type = `t.${unique()}`;
      await subscription({ eventTypes: [type] });
      for (let i = 0; i < 3; i += 1) await store.events.ingest(event({ type }), 0);
      expect(await store.events.claimUndispatched(2, 60_000)).toHaveLength(2);
    });
  });

  describe('deliveries', () => {
    /** An event with `n` deliveries to fresh subscriptions of one account. */
    async function deliveriesOf(n: number, accountId = `acct-${unique()}`) {
      const type = `t.${unique()}`;
      const subs = [];
      for (let i = 0; i < n; i += 1)
        subs.push(await subscription({ eventTypes: [type], accountId, headers: { 'x-n': String(i) } }));
      const ingested = await store.events.ingest(event({ type, accountId, data: { hello: 'world' } }), 60_000);
      return { accountId, subs, ingested, ids: ingested.plans.map((plan) => plan.deliveryId) };
    }

    const attempt = (
      statusCode: number | null,
      extra: { error?: string; nextAttemptAt?: Date | null; url?: string } = {},
    ) => ({
      startedAt: new Date(),
      durationMs: 12,
      statusCode,
      error: extra.error ?? null,
      responseBody: statusCode === null ? null : `answer ${statusCode}`,
      url: extra.url ?? 'https://hooks.example.com/in',
      nextAttemptAt: extra.nextAttemptAt ?? null,
    });

    test('recordAttempt numbers attempts from 1 and keeps the counters', async () => {
      const { ids } = await deliveriesOf(1);
      const id = ids[0] as string;
      const next = new Date(Date.now() + 60_000);
      const first = await store.deliveries.recordAttempt(id, attempt(503, { nextAttemptAt: next }));
      expect(first.attempt).toBe(1);
      // The attempt's write keeps its subscription's health current.
      expect(first.health).toMatchObject({ consecutiveFailures: 1, failingSince: expect.any(Date) });
      expect(await store.deliveries.get(id)).toMatchObject({ attemptCount: 1, nextAttemptAt: next, status: 'pending' });
      expect(
        await store.deliveries.recordAttempt(
          id,
          attempt(null, { error: 'ECONNREFUSED', url: 'https://moved.example.com/' }),
        ),
      ).toMatchObject({ attempt: 2, health: { consecutiveFailures: 2, failingSince: first.health?.failingSince } });
      expect(await store.deliveries.get(id)).toMatchObject({ attemptCount: 2, status: 'pending' });
      expect(await store.deliveries.recordAttempt(id, { ...attempt(200), delivered: true })).toMatchObject({
        attempt: 3,
        health: { consecutiveFailures: 0, failingSince: null },
      });

      const delivery = await store.deliveries.get(id);
      expect(delivery).toMatchObject({
        attemptCount: 3,
        nextAttemptAt: null,
        url: 'https://hooks.example.com/in',
        status: 'succeeded',
      });
      const attempts = (await store.deliveries.attemptsOf([id])).get(id);
      expect(attempts).toEqual([
        {
          attempt: 1,
          startedAt: expect.any(Date),
          durationMs: 12,
          statusCode: 503,
          error: null,
          responseBody: 'answer 503',
        },
        {
          attempt: 2,
          startedAt: expect.any(Date),
          durationMs: 12,
          statusCode: null,
          error: 'ECONNREFUSED',
          responseBody: null,
        },
        {
          attempt: 3,
          startedAt: expect.any(Date),
          durationMs: 12,
          statusCode: 200,
          error: null,
          responseBody: 'answer 200',
        },
      ]);
    });

    test('delivered attempts that finish together are recorded in one statement, each numbered after its own', async () => {
      const { ids, subs } = await deliveriesOf(3);
      const [a, b, c] = ids as [string, string, string];
      await store.deliveries.recordAttempt(a, attempt(503));
      const { statements, db } = countingDb();
      const counted = new DeliveryStore(db, testKeyRing());
      const run = { workflowId: 'subscriber-x', runId: 'run-1' };
      const delivered = { ...attempt(200), delivered: true, fastPathRun: run };
      const recorded = await Promise.all([
        counted.recordAttempt(a, delivered),
        counted.recordAttempt(b, delivered),
        // The same delivery twice (an attempt run again): numbered one after the other.
        counted.recordAttempt(c, delivered),
        counted.recordAttempt(c, delivered),
      ]);
      expect(statements).toHaveLength(1);
      expect(recorded.map((r) => r.attempt)).toEqual([2, 1, 1, 2]);
      expect(recorded[0]?.health).toEqual({ subscriptionId: subs[0]?.id, consecutiveFailures: 0, failingSince: null });
      for (const id of ids) {
        expect(await store.deliveries.get(id)).toMatchObject({
          status: 'succeeded',
          nextAttemptAt: null,
          fastPathRun: run,
        });
      }
      expect(await store.deliveries.get(c)).toMatchObject({ attemptCount: 2 });
      expect((await store.deliveries.attemptsOf([a])).get(a)?.map((x) => x.statusCode)).toEqual([503, 200]);
      expect(await store.subscriptions.get(subs[0]!.id)).toMatchObject({
        health: { consecutiveFailures: 0, failingSince: null },
      });

      // An attempt of an unknown delivery fails alone: the others of its batch are written.
      const { ids: more } = await deliveriesOf(1);
      const [unknown, known] = await Promise.allSettled([
        counted.recordAttempt(newId('dlv'), delivered),
        counted.recordAttempt(more[0] as string, delivered),
      ]);
      expect(unknown.status).toBe('rejected');
      expect(known).toEqual({ status: 'fulfilled', value: expect.objectContaining({ attempt: 1 }) });
      expect(await store.deliveries.get(more[0] as string)).toMatchObject({ status: 'succeeded' });
    });

    test('attempt contexts asked for together are read in one statement, each its own', async () => {
      const { ids } = await deliveriesOf(3);
      const { statements, db } = countingDb();
      const counted = new DeliveryStore(db, testKeyRing());
      const contexts = await Promise.all([...ids, newId('dlv')].map((id) => counted.attemptContext(id)));
      expect(statements).toHaveLength(1);
      expect(contexts.map((context) => context?.delivery.id)).toEqual([...ids, undefined]);
      expect(contexts.map((context) => context?.headers)).toEqual([
        { 'x-n': '0' },
        { 'x-n': '1' },
        { 'x-n': '2' },
        undefined,
      ]);
    });

    test('recordAttempt on an unknown delivery is refused', async () => {
      await expect(store.deliveries.recordAttempt(newId('dlv'), attempt(200))).rejects.toThrow();
    });

    test('attemptsOf groups by delivery and knows deliveries without attempts', async () => {
      const { ids } = await deliveriesOf(2);
      const [a, b] = ids as [string, string];
      await store.deliveries.recordAttempt(a, attempt(500));
      await store.deliveries.recordAttempt(a, attempt(200));
      const unknown = newId('dlv');
      const byDelivery = await store.deliveries.attemptsOf([a, b, unknown]);
      expect(byDelivery.get(a)?.map((row) => row.attempt)).toEqual([1, 2]);
      expect(byDelivery.get(b)).toEqual([]);
      expect(byDelivery.get(unknown)).toEqual([]);
      expect((await store.deliveries.attemptsOf([])).size).toBe(0);
    });

    test('setStatus: a finished delivery has no next attempt; pending is due now', async () => {
      const { ids } = await deliveriesOf(1);
      const id = ids[0] as string;
      await store.deliveries.recordAttempt(id, attempt(503, { nextAttemptAt: new Date(Date.now() + 3_600_000) }));
      await store.deliveries.setStatus(id, 'failed');
      expect(await store.deliveries.get(id)).toMatchObject({ status: 'failed', nextAttemptAt: null, attemptCount: 1 });
      await store.deliveries.setStatus(id, 'pending');
      const pending = await store.deliveries.get(id);
      expect(pending?.status).toBe('pending');
      expect(Math.abs((pending?.nextAttemptAt?.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
      await store.deliveries.setStatus(id, 'succeeded');
      expect(await store.deliveries.get(id)).toMatchObject({ status: 'succeeded', nextAttemptAt: null });
    });

    test('plan reads the delivery with its subscription retry policy', async () => {
      const { ids, ingested } = await deliveriesOf(1);
      expect(await store.deliveries.plan(ids[0] as string)).toEqual(ingested.plans[0]);
      expect(await store.deliveries.plan(newId('dlv'))).toBeUndefined();
    });

    test("attemptContext reads the subscription's current URL, headers and secret", async () => {
      const { ids, subs, ingested } = await deliveriesOf(1);
      const id = ids[0] as string;
      const sub = subs[0]!;
      const before = await store.deliveries.attemptContext(id);
      expect(before).toMatchObject({
        url: 'https://hooks.example.com/in',
        headers: { 'x-n': '0' },
        secret: await store.subscriptions.getSecret(sub.id),
        subscriptionActive: true,
        event: {
          id: ingested.event.id,
          type: ingested.event.type,
          accountId: ingested.event.accountId,
          data: { hello: 'world' },
          callbackUrl: null,
        },
      });
      expect(before?.event.createdAt.getTime()).toBe(ingested.event.createdAt.getTime());
      expect(before?.delivery.id).toBe(id);

      await store.subscriptions.update(sub.id, {
        url: 'https://fixed.example.com/in',
        headers: { 'x-fixed': 'yes' },
      });
      expect(await store.deliveries.attemptContext(id)).toMatchObject({
        url: 'https://fixed.example.com/in',
        headers: { 'x-fixed': 'yes' },
        subscriptionActive: true,
      });

      await store.subscriptions.update(sub.id, { active: false });
      expect((await store.deliveries.attemptContext(id))?.subscriptionActive).toBe(false);
      await store.subscriptions.update(sub.id, { active: true });
      expect((await store.deliveries.attemptContext(id))?.subscriptionActive).toBe(true);

      await store.subscriptions.delete(sub.id);
      expect(await store.deliveries.attemptContext(id)).toMatchObject({
        subscriptionActive: false,
        url: 'https://hooks.example.com/in',
        headers: {},
        secret: '',
      });
      expect(await store.deliveries.attemptContext(newId('dlv'))).toBeUndefined();
    });

    test("attemptContext of a callback delivery uses the event's URL and secret", async () => {
      const callbackSecret = `whsec_${randomBytes(32).toString('base64')}`;
      const ingested = await store.events.ingest(
        event({ type: `t.${unique()}`, callbackUrl: 'https://caller.example.com/cb', callbackSecret }),
        60_000,
      );
      const context = await store.deliveries.attemptContext(ingested.plans[0]?.deliveryId as string);
      expect(context).toMatchObject({
        url: 'https://caller.example.com/cb',
        secret: callbackSecret,
        headers: {},
        subscriptionActive: true,
      });
    });

    test('pendingWorkflowIds lists the pending deliveries of a subscription', async () => {
      const type = `t.${unique()}`;
      const sub = await subscription({ eventTypes: [type] });
      const first = await store.events.ingest(event({ type }), 60_000);
      const second = await store.events.ingest(event({ type }), 60_000);
      await store.deliveries.setStatus(first.plans[0]?.deliveryId as string, 'succeeded');
      expect(await store.deliveries.pendingWorkflowIds(sub.id)).toEqual([deliveryWorkflowId(second.event.id, sub.id)]);
    });

    test('list filters by event, subscription, status and account', async () => {
      const { accountId, ids, ingested } = await deliveriesOf(3);
      const [a, b, c] = ids as [string, string, string];
      await store.deliveries.setStatus(a, 'succeeded');
      await store.deliveries.setStatus(b, 'failed');
      const listed = async (filter: {
        eventId?: string;
        subscriptionId?: string;
        status?: DeliveryStatus;
        accountId?: string;
      }) => (await store.deliveries.list({ limit: 100, ...filter })).items.map((item) => item.id);

      expect(await listed({ eventId: ingested.event.id })).toEqual([a, b, c].sort().reverse());
      expect(await listed({ accountId })).toEqual([a, b, c].sort().reverse());
      expect(await listed({ eventId: ingested.event.id, status: 'failed' })).toEqual([b]);
      expect(await listed({ accountId, status: 'pending' })).toEqual([c]);
      expect(await listed({ subscriptionId: ingested.plans[2]?.subscriptionId as string })).toEqual([c]);
      expect(
        await listed({ subscriptionId: ingested.plans[0]?.subscriptionId as string, status: 'succeeded' }),
      ).toEqual([a]);
      expect(await listed({ eventId: ingested.event.id, status: 'cancelled' })).toEqual([]);

      const one = await store.deliveries.get(a);
      expect(one).toMatchObject({ id: a, eventId: ingested.event.id, accountId, status: 'succeeded', attemptCount: 0 });
      expect(await store.deliveries.get(newId('dlv'))).toBeUndefined();
    });

    test('list is newest first and pages with a cursor', async () => {
      const accountId = `acct-${unique()}`;
      const older = await deliveriesOf(3, accountId);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const newer = await deliveriesOf(2, accountId);

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.deliveries.list({ accountId, limit: 2, cursor });
        seen.push(...page.items.map((item) => item.id));
        cursor = page.nextCursor ?? undefined;
        pages += 1;
      } while (cursor !== undefined);
      expect(pages).toBe(3);
      expect(seen).toEqual([...older.ids, ...newer.ids].sort().reverse());
      expect(seen.slice(0, 2).sort()).toEqual([...newer.ids].sort());
      expect(new Set(seen).size).toBe(5);
    });
  });
});
