/**
 * End-to-end delivery against a real Temporal dev server and real receivers on loopback.
 */
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { Agent } from 'undici';
import { Webhook } from 'standardwebhooks';
import { createPostWebhook } from '../../activities/post-webhook';
import { createLogger } from '../../src/logger';
import { cancelSignal, resendSignal, statusQuery } from '../../workflows/messages';
import { withDefaults } from '../../core/retry-policy';
import { startHarness, type Harness } from '../helpers/harness';
import { always, sequence, TestReceiver } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { FAST_RETRY } from '../helpers/retry-policies';

let env: TestWorkflowEnvironment;
let h: Harness;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env, attemptTimeoutMs: 1_000 });
  for (const id of ['order.created', 'resident.updated', 'resident.moved']) {
    await h.call('POST', '/v1/event-types', { id, description: id });
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await h?.close();
  await env?.teardown();
});

async function receiver(script = always(200)): Promise<TestReceiver> {
  const r = await TestReceiver.start(script);
  receivers.push(r);
  return r;
}

async function subscribe(url: string, extra: Record<string, unknown> = {}): Promise<{ id: string; secret: string }> {
  const res = await h.call('POST', '/v1/subscriptions', {
    url,
    eventTypes: ['order.created'],
    retryPolicy: FAST_RETRY,
    ...extra,
  });
  expect(res.status).toBe(201);
  return res.body;
}

async function publish(body: Record<string, unknown>): Promise<{ id: string; deliveryCount: number }> {
  const res = await h.call('POST', '/v1/events', { type: 'order.created', data: { orderId: 42 }, ...body });
  expect(res.status).toBe(202);
  return res.body;
}

async function deliveryOf(eventId: string, subscriptionId: string): Promise<any> {
  const list = await h.call('GET', `/v1/deliveries?eventId=${eventId}&subscriptionId=${subscriptionId}`);
  expect(list.status).toBe(200);
  expect(list.body.data).toHaveLength(1);
  return list.body.data[0];
}

test('a 2xx on the first attempt succeeds, signed so that standardwebhooks verifies it', async () => {
  const r = await receiver();
  const sub = await subscribe(r.url);
  const event = await publish({});
  expect(event.deliveryCount).toBe(1);
  const [request] = await r.waitForRequests(1);
  const delivery = await h.finished((await deliveryOf(event.id, sub.id)).id);
  expect(delivery).toMatchObject({ status: 'succeeded', attemptCount: 1, nextAttemptAt: null });
  expect(delivery.attempts).toEqual([expect.objectContaining({ attempt: 1, statusCode: 200, responseBody: 'ok' })]);
  expect(delivery.temporalUiUrl).toContain(encodeURIComponent(delivery.workflowId));
  // The first attempt ran as a local activity in the workflow's first task, and recorded the
  // success itself: no activity went through the task queue, no recordOutcome local activity ran.
  const handle = env.client.workflow.getHandle(delivery.workflowId);
  await handle.result();
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const markers = events.flatMap((e) =>
    e.markerRecordedEventAttributes ? [e.markerRecordedEventAttributes.markerName] : [],
  );
  expect(markers.filter((name) => name === 'core_local_activity')).toHaveLength(1);
  expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(0);
  // A run of the current revision checks no patch (no marker, no TemporalChangeVersion write) and
  // writes no status (Completed says it): six events, no search attribute write after the start.
  expect(markers.filter((name) => name === 'core_patch')).toHaveLength(0);
  expect(events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes)).toHaveLength(0);
  expect(events).toHaveLength(6);

  expect(request?.headers['content-type']).toBe('application/json');
  expect(request?.headers['webhook-id']).toBe(event.id);
  const payload = new Webhook(sub.secret).verify(request!.body, request!.headers as Record<string, string>);
  expect(payload).toEqual({
    id: event.id,
    type: 'order.created',
    timestamp: expect.any(String),
    accountId: null,
    data: { orderId: 42 },
  });
  expect(() =>
    new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(
      request!.body,
      request!.headers as Record<string, string>,
    ),
  ).toThrow();
});

test('500 then 200 succeeds on attempt 2, with the same webhook-id', async () => {
  const r = await receiver(sequence({ status: 500, body: 'boom' }, { status: 200 }));
  const sub = await subscribe(r.url);
  const event = await publish({});
  const delivery = await h.finished((await deliveryOf(event.id, sub.id)).id);
  expect(delivery.status).toBe('succeeded');
  expect(delivery.attempts.map((a: any) => a.statusCode)).toEqual([500, 200]);
  expect(delivery.attempts[0]).toMatchObject({ error: 'receiver answered HTTP 500', responseBody: 'boom' });
  expect(r.requests.map((req) => req.headers['webhook-id'])).toEqual([event.id, event.id]);
});

test('404 fails after exactly one attempt', async () => {
  const r = await receiver(always(404));
  const sub = await subscribe(r.url);
  const event = await publish({});
  const delivery = await h.finished((await deliveryOf(event.id, sub.id)).id);
  expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
  // The run has closed (Failed): no attempt of it can come after this, so one request is all.
  const handle = h.client.workflow.getHandle(delivery.workflowId);
  await expect(handle.result()).rejects.toThrow();
  expect((await handle.describe()).status.name).toBe('FAILED');
  expect(r.requests).toHaveLength(1);
});

test('429 with Retry-After waits as asked before the next attempt', async () => {
  const r = await receiver(sequence({ status: 429, headers: { 'retry-after': '3' } }, { status: 200 }));
  const sub = await subscribe(r.url);
  const event = await publish({});
  const delivery = await h.finished((await deliveryOf(event.id, sub.id)).id);
  expect(delivery.status).toBe('succeeded');
  const [first, second] = r.requests;
  // The policy alone would retry after 1 s; Retry-After asked for 3 s.
  expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(2_900);
});

test('a receiver that hangs is cut by the attempt timeout and retried', async () => {
  const r = await receiver(sequence({ hang: true }, { status: 200 }));
  const sub = await subscribe(r.url);
  const event = await publish({});
  const delivery = await h.finished((await deliveryOf(event.id, sub.id)).id);
  expect(delivery.status).toBe('succeeded');
  expect(delivery.attempts).toHaveLength(2);
  expect(delivery.attempts[0].statusCode).toBeUndefined();
  expect(delivery.attempts[0].error).toMatch(/timeout|abort/i);
  expect(delivery.attempts[0].durationMs).toBeGreaterThanOrEqual(900);
});

test('account scoping, wildcard subscriptions and inactive subscriptions', async () => {
  const vendor = await receiver();
  const acme = await receiver();
  const other = await receiver();
  const wildcard = await receiver();
  const inactive = await receiver();
  const residents = { eventTypes: ['resident.updated'] };
  const vendorSub = await subscribe(vendor.url, residents);
  const acmeSub = await subscribe(acme.url, { ...residents, accountId: 'acme' });
  await subscribe(other.url, { ...residents, accountId: 'other' });
  const wildcardSub = await subscribe(wildcard.url, { eventTypes: ['*'], accountId: 'acme' });
  const inactiveSub = await subscribe(inactive.url, { ...residents, active: false });

  const forAcme = await publish({ type: 'resident.updated', accountId: 'acme' });
  // Vendor level, another type: only subscribers of every type would match, and the wildcard one is acme's.
  const moved = await publish({ type: 'resident.moved' });
  const movedForAcme = await publish({ type: 'resident.moved', accountId: 'acme' });
  await vendor.waitForRequests(1);
  await acme.waitForRequests(1);
  await wildcard.waitForRequests(2);
  const matched = await h.call('GET', `/v1/events/${forAcme.id}`);
  expect(forAcme.deliveryCount).toBe(3);
  expect(matched.body.deliveries).toMatchObject({ total: 3 });
  expect(moved.deliveryCount).toBe(0);
  expect(movedForAcme.deliveryCount).toBe(1);
  // A delivery is made only for a delivery row; the other account's and the inactive subscription
  // got none.
  const subscribersOf = async (eventId: string): Promise<string[]> =>
    (await h.call('GET', `/v1/deliveries?eventId=${eventId}`)).body.data.map((d: any) => d.subscriptionId).sort();
  expect(await subscribersOf(forAcme.id)).toEqual([vendorSub.id, acmeSub.id, wildcardSub.id].sort());
  expect(await subscribersOf(movedForAcme.id)).toEqual([wildcardSub.id]);
  expect(vendor.requests).toHaveLength(1);
  expect(wildcard.requests.map((req) => JSON.parse(req.body).type).sort()).toEqual([
    'resident.moved',
    'resident.updated',
  ]);
  // Their receivers work: a marker event each does reach them, and it is all they ever got.
  const forOther = await publish({ type: 'resident.updated', accountId: 'other' });
  expect((await h.call('PATCH', `/v1/subscriptions/${inactiveSub.id}`, { active: true })).status).toBe(200);
  const afterActivation = await publish({ type: 'resident.updated', accountId: 'acme' });
  await other.waitForRequests(1);
  await inactive.waitForRequests(1);
  expect(other.requests.map((req) => req.headers['webhook-id'])).toEqual([forOther.id]);
  expect(inactive.requests.map((req) => req.headers['webhook-id'])).toEqual([afterActivation.id]);
});

test('the same event id twice creates no new deliveries; a different body under it is 409', async () => {
  const r = await receiver();
  const sub = await subscribe(r.url);
  const first = await publish({ id: `order-${Date.now()}` });
  const again = await h.call('POST', '/v1/events', { type: 'order.created', data: { orderId: 42 }, id: first.id });
  expect(again.status).toBe(202);
  expect(again.body).toEqual(first);
  const viaHeader = await h.call(
    'POST',
    '/v1/events',
    { type: 'order.created', data: { orderId: 42 } },
    { 'idempotency-key': first.id },
  );
  expect(viaHeader.body.id).toBe(first.id);
  const different = await h.call('POST', '/v1/events', { type: 'order.created', data: { orderId: 43 }, id: first.id });
  expect(different.status).toBe(409);
  await h.finished((await deliveryOf(first.id, sub.id)).id);
  expect(r.requests).toHaveLength(1);
});

test('cancel through the API stops a retrying delivery; resend through the API delivers it again', async () => {
  const r = await receiver(always(500));
  const sub = await subscribe(r.url, { retryPolicy: { initialInterval: '1h' } });
  const event = await publish({});
  await r.waitForRequests(1);
  const { id } = await deliveryOf(event.id, sub.id);
  const cancelled = await h.call('POST', `/v1/deliveries/${id}/cancel`);
  expect(cancelled.status).toBe(200);
  expect(cancelled.body.status).toBe('cancelled');
  expect((await h.call('POST', `/v1/deliveries/${id}/cancel`)).status).toBe(200);

  r.script = always(200);
  const resent = await h.call('POST', `/v1/deliveries/${id}/resend`);
  expect(resent.status).toBe(202);
  const delivery = await h.finished(id);
  expect(delivery.status).toBe('succeeded');
  expect(delivery.attempts.map((a: any) => a.statusCode)).toEqual([500, 200]);
  expect((await h.call('POST', `/v1/deliveries/${id}/cancel`)).status).toBe(409);
});

test('an attempt run again after its 2xx was recorded answers with that success; a resend still delivers again', async () => {
  const r = await receiver();
  const sub = await subscribe(r.url);
  const event = await publish({});
  const { id } = await deliveryOf(event.id, sub.id);
  expect(await h.finished(id)).toMatchObject({ status: 'succeeded', attemptCount: 1 });

  // The same attempt again, as after a workflow task timed out while the local attempt ran.
  const http = new Agent();
  try {
    const postWebhook = createPostWebhook({
      deliveries: h.store.deliveries,
      http,
      logger: createLogger('silent'),
      targets: { allowInsecure: true },
    });
    const again = await new MockActivityEnvironment({ isLocal: true }).run(postWebhook, {
      deliveryId: id,
      retryPolicy: withDefaults(FAST_RETRY),
      attemptTimeoutMs: 1_000,
    });
    expect(again).toMatchObject({ statusCode: 200, attempt: 1 });
  } finally {
    await http.close();
  }
  expect(r.requests).toHaveLength(1);
  expect((await h.call('GET', `/v1/deliveries/${id}`)).body.attemptCount).toBe(1);

  expect((await h.call('POST', `/v1/deliveries/${id}/resend`)).status).toBe(202);
  await r.waitForRequests(2);
  await waitFor(
    async () => ((await h.call('GET', `/v1/deliveries/${id}`)).body.attemptCount === 2 ? true : undefined),
    'the resend recorded',
  );
  expect(await h.finished(id)).toMatchObject({ status: 'succeeded', attemptCount: 2 });
});

test('resend on a pending delivery skips the remaining backoff', async () => {
  const r = await receiver(sequence({ status: 503 }, { status: 200 }));
  const sub = await subscribe(r.url, { retryPolicy: { initialInterval: '1h' } });
  const event = await publish({});
  await r.waitForRequests(1);
  const { id } = await deliveryOf(event.id, sub.id);
  const pending = await waitFor(async () => {
    const d = (await h.call('GET', `/v1/deliveries/${id}`)).body;
    return d.attemptCount === 1 ? d : undefined;
  }, 'first attempt recorded');
  expect(Date.parse(pending.nextAttemptAt) - Date.now()).toBeGreaterThan(50 * 60_000);
  expect((await h.call('POST', `/v1/deliveries/${id}/resend`)).status).toBe(202);
  expect((await h.finished(id)).status).toBe('succeeded');
});

test('signals from an operator (as the Temporal UI sends them) cancel and resend; the status query answers', async () => {
  const r = await receiver(always(500));
  const sub = await subscribe(r.url, { retryPolicy: { initialInterval: '1h' } });
  const event = await publish({});
  await r.waitForRequests(1);
  const { id, workflowId } = await deliveryOf(event.id, sub.id);
  const handle = h.client.workflow.getHandle(workflowId);
  expect(await handle.query(statusQuery)).toMatchObject({ deliveryId: id, status: 'pending' });
  r.script = always(200);
  await handle.signal(resendSignal);
  await r.waitForRequests(2);
  expect((await h.finished(id)).status).toBe('succeeded');

  r.script = always(500);
  const second = await publish({});
  await r.waitForRequests(3);
  const other = await deliveryOf(second.id, sub.id);
  await h.client.workflow.getHandle(other.workflowId).signal(cancelSignal);
  expect((await h.finished(other.id)).status).toBe('cancelled');
  expect(await h.client.workflow.getHandle(other.workflowId).query(statusQuery)).toMatchObject({ status: 'cancelled' });
});

test('deliveries are findable in Temporal by subscription and status', async () => {
  const r = await receiver(always(410));
  const sub = await subscribe(r.url);
  const event = await publish({});
  await h.finished((await deliveryOf(event.id, sub.id)).id);
  const found = await waitFor(async () => {
    const ids: string[] = [];
    for await (const wf of h.client.workflow.list({
      query: `WebhookSubscriptionId = "${sub.id}" AND WebhookDeliveryStatus = "failed"`,
    }))
      ids.push(wf.workflowId);
    return ids.length > 0 ? ids : undefined;
  }, 'visibility to catch up');
  expect(found).toEqual([`delivery/${event.id}/${sub.id}`]);
  const description = await h.client.workflow.getHandle(found[0]!).describe();
  expect(await description.staticSummary()).toBe(`order.created → ${new URL(r.url).host}`);
});

test('a cancel aborts a first attempt in flight, at the workflow task heartbeat at the latest', async () => {
  const slow = await startHarness({ env, attemptTimeoutMs: 60_000 });
  try {
    await slow.call('POST', '/v1/event-types', { id: 'order.created' });
    const r = await receiver(() => ({ hang: true }));
    const sub = (
      await slow.call('POST', '/v1/subscriptions', {
        url: r.url,
        eventTypes: ['order.created'],
        retryPolicy: FAST_RETRY,
      })
    ).body;
    const event = (await slow.call('POST', '/v1/events', { type: 'order.created', data: {} })).body;
    await r.waitForRequests(1);
    const { id } = (await slow.call('GET', `/v1/deliveries?eventId=${event.id}&subscriptionId=${sub.id}`)).body.data[0];
    const cancelledAt = Date.now();
    expect((await slow.call('POST', `/v1/deliveries/${id}/cancel`)).status).toBe(200);
    const delivery = await waitFor(
      async () => {
        const d = (await slow.call('GET', `/v1/deliveries/${id}`)).body;
        return d.status === 'pending' ? undefined : d;
      },
      'the cancel',
      20_000,
    );
    // The workflow task heartbeats at 80% of its 10 s timeout; the signal rides on the next task.
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
    expect(delivery).toMatchObject({ status: 'cancelled' });
    expect(r.requests).toHaveLength(1);
  } finally {
    await slow.close();
  }
}, 60_000);
