/**
 * Replay (issue 16) and the operations API, against a real Temporal dev server: a subscription
 * created after its events receives, through a replay, exactly those it matches, oldest first;
 * bad requests are 422 naming the field, unknown and other accounts' operations 404, and account
 * keys start and see their own account's operations only. Recover: recover.test.ts,
 * recover-cancel.test.ts, operations-worker-kill.test.ts.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { OPERATION_DONE, OPERATION_KIND } from '../../core/search-attributes';
import { startHarness, type Harness } from '../helpers/harness';
import { ended, publish, settledCount } from '../helpers/operations';
import { TestReceiver } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';

let env: TestWorkflowEnvironment;
let h: Harness;
const receivers: TestReceiver[] = [];
const testStart = new Date(Date.now() - 1_000).toISOString();

/** Events published before the replayed subscription exists. */
const REPLAYED_EVENTS = 200;

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env });
  for (const id of ['replay.match', 'replay.other']) {
    expect((await h.call('POST', '/v1/event-types', { id })).status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await h?.close();
  await env?.teardown();
});

async function subscribe(url: string, body: Record<string, unknown>): Promise<string> {
  const res = await h.call('POST', '/v1/subscriptions', { url, ...body });
  expect(res.status).toBe(201);
  return res.body.id;
}

test(`replay: a subscription created after ${REPLAYED_EVENTS} events receives exactly those it matches, oldest first`, async () => {
  // Half of the events are of its type, half of those of its account.
  const events = Array.from({ length: REPLAYED_EVENTS }, (_, n) => ({
    type: n % 2 === 0 ? 'replay.match' : 'replay.other',
    accountId: n % 4 < 2 ? 'acme' : 'globex',
    data: { n },
  }));
  const eventIds = await publish(h, events);
  // The matching events in the order they were created (posted 25 at a time, they may interleave).
  const created = await h.store.db.query<{ id: string }>(
    'SELECT id FROM events WHERE id = ANY($1::text[]) ORDER BY created_at, id',
    [eventIds.filter((_, n) => n % 4 === 0)],
  );
  const expected = created.map((row) => row.id);
  const target = await TestReceiver.start();
  receivers.push(target);
  const subscriptionId = await subscribe(target.url, { eventTypes: ['replay.match'], accountId: 'acme' });

  const started = await h.call('POST', `/v1/subscriptions/${subscriptionId}/replay`, { since: testStart });
  expect(started.status).toBe(202);
  expect(started.body).toMatchObject({ kind: 'replay', status: 'running', matched: expected.length, done: 0 });
  expect(started.body.filter).not.toHaveProperty('statuses');
  const done = await ended(h, started.body.id);
  expect(done).toMatchObject({ status: 'completed', done: expected.length, remaining: 0 });
  const description = await h.client.workflow.getHandle(`replay/${started.body.id}`).describe();
  expect(description.typedSearchAttributes.get(OPERATION_KIND)).toBe('replay');
  expect(description.typedSearchAttributes.get(OPERATION_DONE)).toBe(expected.length);

  expect(await settledCount(target, expected.length)).toBe(expected.length);
  const received = target.requests.map((request) => JSON.parse(request.body).id as string);
  expect([...received].sort()).toEqual([...expected].sort());
  // Written oldest first: the deliveries' ids (creation order) follow the events'.
  const deliveries = await h.store.db.query<{ event_id: string }>(
    'SELECT event_id FROM deliveries WHERE subscription_id = $1 ORDER BY id',
    [subscriptionId],
  );
  expect(deliveries.map((row) => row.event_id)).toEqual(expected);
  // And started oldest first: the first half to arrive is older, on average, than the second.
  const age = (ids: string[]): number => ids.reduce((sum, id) => sum + expected.indexOf(id), 0) / ids.length;
  const half = received.length / 2;
  expect(age(received.slice(0, half))).toBeLessThan(age(received.slice(half)));

  // A second replay finds nothing left to deliver.
  const again = await h.call('POST', `/v1/subscriptions/${subscriptionId}/replay`, { since: testStart });
  expect(again.body.matched).toBe(0);
  expect(await ended(h, again.body.id)).toMatchObject({ status: 'completed', done: 0 });
  expect(await settledCount(target, expected.length)).toBe(expected.length);
}, 120_000);

test('replay in throughput mode: the deliveries go through the subscriber workflow, once each', async () => {
  const throughput = await startHarness({ env, deliveryMode: 'per-subscriber' });
  try {
    expect((await throughput.call('POST', '/v1/event-types', { id: 'replay.fast' })).status).toBe(201);
    const eventIds = await publish(
      throughput,
      Array.from({ length: 30 }, (_, n) => ({ type: 'replay.fast', data: { n } })),
    );
    const target = await TestReceiver.start();
    receivers.push(target);
    const created = await throughput.call('POST', '/v1/subscriptions', {
      url: target.url,
      eventTypes: ['replay.fast'],
    });
    const subscriptionId = created.body.id as string;
    const started = await throughput.call('POST', `/v1/subscriptions/${subscriptionId}/replay`, { since: testStart });
    expect(started.body.matched).toBe(eventIds.length);
    expect(await ended(throughput, started.body.id)).toMatchObject({ status: 'completed', done: eventIds.length });
    expect(await settledCount(target, eventIds.length)).toBe(eventIds.length);
    expect(new Set(target.requests.map((request) => JSON.parse(request.body).id))).toEqual(new Set(eventIds));
    // Delivered on their first attempt by the subscription's subscriber workflow.
    const listed = await throughput.call('GET', `/v1/deliveries?subscriptionId=${subscriptionId}&limit=100`);
    expect(listed.body.data.map((delivery: any) => delivery.workflowId)).toEqual(
      eventIds.map(() => `subscriber/${subscriptionId}`),
    );
  } finally {
    await throughput.close();
  }
}, 60_000);

describe('requests', () => {
  let subscriptionId: string;

  beforeAll(async () => {
    subscriptionId = await subscribe('http://127.0.0.1:9/never', { eventTypes: ['replay.other'], accountId: 'acme' });
  });

  test.each([
    ['no since', 'recover', {}, 'since'],
    ['a since that is not a date-time', 'recover', { since: 'yesterday' }, 'since'],
    ['a since in the future and no until', 'recover', { since: '2999-01-01T00:00:00Z' }, 'since'],
    ['an until before since', 'recover', { since: testStart, until: '2000-01-01T00:00:00Z' }, 'until'],
    ['a status that cannot be recovered', 'recover', { since: testStart, statuses: ['pending'] }, 'statuses.0'],
    ['no status', 'recover', { since: testStart, statuses: [] }, 'statuses'],
    ['statuses that are not a list', 'recover', { since: testStart, statuses: 'failed' }, 'statuses'],
    ['an unknown field', 'recover', { since: testStart, extra: 1 }, 'body'],
    ['statuses on a replay', 'replay', { since: testStart, statuses: ['failed'] }, 'body'],
    ['an until that is a number', 'replay', { since: testStart, until: 5 }, 'until'],
  ])('%s: 422 naming the field', async (_name, kind, body, path) => {
    const res = await h.call('POST', `/v1/subscriptions/${subscriptionId}/${kind}`, body);
    expect(res.status).toBe(422);
    expect(res.body.error.details.map((detail: any) => detail.path)).toContain(path);
  });

  test('unknown subscriptions and operations are 404', async () => {
    const since = testStart;
    for (const path of ['/v1/subscriptions/sub_00000000000000000000000000', '/v1/subscriptions/nope']) {
      expect((await h.call('POST', `${path}/recover`, { since })).status).toBe(404);
      expect((await h.call('POST', `${path}/replay`, { since })).status).toBe(404);
    }
    for (const id of ['op_00000000000000000000000000', 'nope']) {
      expect((await h.call('GET', `/v1/operations/${id}`)).status).toBe(404);
      expect((await h.call('POST', `/v1/operations/${id}/cancel`)).status).toBe(404);
    }
    expect((await h.call('GET', '/v1/operations?status=paused')).status).toBe(422);
  });

  test("account keys start and see their own account's operations only", async () => {
    const keys: Record<string, string> = {};
    for (const account of ['acme', 'globex']) {
      const created = await h.call('POST', '/v1/api-keys', { scope: `account:${account}` });
      expect(created.status).toBe(201);
      keys[account] = created.body.key;
    }
    const as = (account: string) => (method: string, path: string, body?: unknown) =>
      h.call(method, path, body, { authorization: `Bearer ${keys[account]}` });

    expect(
      (await as('globex')('POST', `/v1/subscriptions/${subscriptionId}/replay`, { since: testStart })).status,
    ).toBe(404);
    const own = await as('acme')('POST', `/v1/subscriptions/${subscriptionId}/replay`, { since: testStart });
    expect(own.status).toBe(202);
    expect((await as('acme')('GET', `/v1/operations/${own.body.id}`)).status).toBe(200);
    expect((await as('acme')('GET', '/v1/operations')).body.data.map((op: any) => op.id)).toContain(own.body.id);
    expect((await as('globex')('GET', `/v1/operations/${own.body.id}`)).status).toBe(404);
    expect((await as('globex')('POST', `/v1/operations/${own.body.id}/cancel`)).status).toBe(404);
    expect((await as('globex')('GET', '/v1/operations')).body.data).toEqual([]);
    // The vendor's operations (of a subscription of no account) are the admin's alone.
    const vendorSubscription = await subscribe('http://127.0.0.1:9/never', { eventTypes: ['replay.other'] });
    const vendorOperation = await h.call('POST', `/v1/subscriptions/${vendorSubscription}/replay`, {
      since: testStart,
    });
    expect(vendorOperation.status).toBe(202);
    expect(
      (await as('acme')('POST', `/v1/subscriptions/${vendorSubscription}/recover`, { since: testStart })).status,
    ).toBe(404);
    expect((await as('acme')('GET', `/v1/operations/${vendorOperation.body.id}`)).status).toBe(404);
    const seenByAcme = (await as('acme')('GET', '/v1/operations?limit=100')).body.data.map((op: any) => op.id);
    expect(seenByAcme).toEqual([own.body.id, ...seenByAcme.slice(1)]);
    expect(seenByAcme).not.toContain(vendorOperation.body.id);
    expect((await h.call('GET', '/v1/operations?limit=1')).body.data[0].id).toBe(vendorOperation.body.id);
  });
});
