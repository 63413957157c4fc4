/**
 * Throughput mode (WEBHOOKS_DELIVERY_MODE=per-subscriber) end to end, against a real Temporal dev
 * server and receivers on loopback: first attempts made by the subscription's subscriber
 * workflow, every other outcome handed on to the delivery's own workflow, the API's contract
 * unchanged.
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { deliveryWorkflowId, subscriberWorkflowId } from '../../core/workflow-ids';
import { DELIVERY_FAILURE_TYPES } from '../../workflows/messages';
import { subscriberStatusQuery } from '../../workflows/subscriber-messages';
import { startHarness, type Harness } from '../helpers/harness';
import { always, sequence, TestReceiver, type Script } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { FAST_RETRY } from '../helpers/retry-policies';

let env: TestWorkflowEnvironment;
let h: Harness;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({
    env,
    attemptTimeoutMs: 1_000,
    deliveryMode: 'per-subscriber',
    // Room for more deliveries of one subscription than its subscriber workflow attempts at once (32).
    firstAttemptWindow: { limit: 256, perTargetLimit: 64 },
  });
  await h.call('POST', '/v1/event-types', { id: 'order.created', description: 'order.created' });
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await h?.close();
  await env?.teardown();
});

async function subscriberTo(script: Script): Promise<{ receiver: TestReceiver; subscriptionId: string }> {
  const receiver = await TestReceiver.start(script);
  receivers.push(receiver);
  const res = await h.call('POST', '/v1/subscriptions', {
    url: receiver.url,
    eventTypes: ['order.created'],
    retryPolicy: FAST_RETRY,
  });
  expect(res.status).toBe(201);
  return { receiver, subscriptionId: res.body.id };
}

async function publish(data: unknown = { orderId: 42 }): Promise<string> {
  const res = await h.call('POST', '/v1/events', { type: 'order.created', data });
  expect(res.status).toBe(202);
  return res.body.id;
}

async function deliveryOf(eventId: string): Promise<any> {
  return waitFor(async () => {
    const list = await h.call('GET', `/v1/deliveries?eventId=${eventId}`);
    return list.body.data[0];
  }, `the delivery of ${eventId}`);
}

async function describeOrUndefined(workflowId: string) {
  try {
    return await h.client.workflow.getHandle(workflowId).describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return undefined;
    throw error;
  }
}

test('a burst for one subscriber: each delivered once by its subscriber workflow, no delivery workflow, the API names that run', async () => {
  const { receiver, subscriptionId } = await subscriberTo(always(200));
  const eventIds = await Promise.all(Array.from({ length: 60 }, (_, i) => publish({ orderId: i })));
  await waitFor(async () => receiver.requests.length >= 60 || undefined, '60 deliveries');
  const webhookIds = receiver.requests.map((request) => request.headers['webhook-id']);
  expect(new Set(webhookIds).size).toBe(60);
  expect(webhookIds.sort()).toEqual([...eventIds].sort());

  const subscriber = await h.client.workflow.getHandle(subscriberWorkflowId(subscriptionId)).describe();
  expect(subscriber.type).toBe('subscriberWorkflow');
  const first = eventIds[0] as string;
  const delivery = await h.finished((await deliveryOf(first)).id);
  expect(delivery).toMatchObject({
    status: 'succeeded',
    attemptCount: 1,
    workflowId: subscriberWorkflowId(subscriptionId),
  });
  expect(delivery.temporalUiUrl).toContain(`/workflows/${encodeURIComponent(subscriberWorkflowId(subscriptionId))}/`);
  expect(delivery.temporalUiUrl).toMatch(/\/history$/);
  expect(await describeOrUndefined(deliveryWorkflowId(first, subscriptionId))).toBeUndefined();
  const state = await h.client.workflow.getHandle(subscriberWorkflowId(subscriptionId)).query(subscriberStatusQuery);
  expect(state).toMatchObject({ subscriptionId, queued: 0, attempting: 0 });
  expect(state.handled).toBeGreaterThanOrEqual(60);
});

test('a first attempt answered 503 is handed on: its delivery workflow retries it, the receiver gets no repeat of the first', async () => {
  const { receiver, subscriptionId } = await subscriberTo(sequence({ status: 503 }, { status: 200 }));
  const eventId = await publish();
  const delivery = await h.finished((await deliveryOf(eventId)).id);
  expect(delivery).toMatchObject({
    status: 'succeeded',
    attemptCount: 2,
    workflowId: deliveryWorkflowId(eventId, subscriptionId),
  });
  expect(receiver.requests).toHaveLength(2);
  const handle = h.client.workflow.getHandle(deliveryWorkflowId(eventId, subscriptionId));
  await handle.result();
  const run = await handle.describe();
  expect(run.status.name).toBe('COMPLETED');
  // Started by the subscriber workflow, labelled as in the default mode.
  expect(run.parentExecution?.workflowId).toBe(subscriberWorkflowId(subscriptionId));
  expect(run.typedSearchAttributes.get({ name: 'WebhookEventId', type: 'KEYWORD' } as never)).toBe(eventId);
});

test('a first attempt answered 410 gives a delivery workflow that ends Failed at once, after one request', async () => {
  const { receiver, subscriptionId } = await subscriberTo(always(410));
  const eventId = await publish();
  const delivery = await h.finished((await deliveryOf(eventId)).id);
  expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
  expect(receiver.requests).toHaveLength(1);
  const handle = h.client.workflow.getHandle(deliveryWorkflowId(eventId, subscriptionId));
  await expect(handle.result()).rejects.toMatchObject({
    cause: { type: DELIVERY_FAILURE_TYPES.receiverRejected },
  });
  expect((await handle.describe()).status.name).toBe('FAILED');
});

test('cancel of a delivery its subscriber workflow holds: ended cancelled there; queued, it is never posted and gets no delivery workflow', async () => {
  // Every request hangs until the 1 s attempt deadline: 32 first attempts in flight, the rest queued
  // (the subscriber workflow's cancelQueued path; test/workflows/subscriber-workflow.test.ts drives
  // it step by step). Updates reach the workflow between its tasks, so by the time the cancel is
  // taken the delivery may have moved into the next wave of attempts: then it is aborted there.
  const { receiver, subscriptionId } = await subscriberTo(() => ({ hang: true }));
  const eventIds: string[] = [];
  for (let i = 0; i < 40; i += 1) eventIds.push(await publish({ orderId: i }));
  const last = eventIds[39] as string;
  const { id } = await deliveryOf(last);
  await waitFor(async () => receiver.requests.length >= 32 || undefined, '32 first attempts in flight');
  const res = await h.call('POST', `/v1/deliveries/${id}/cancel`);
  expect(res.status).toBe(200);
  expect(res.body.status).toBe('cancelled');
  // Cancelling it again is accepted.
  expect((await h.call('POST', `/v1/deliveries/${id}/cancel`)).status).toBe(200);
  await waitFor(async () => receiver.requests.length >= 39 || undefined, 'the other first attempts', 10_000);
  const posted = receiver.requests.filter((request) => request.headers['webhook-id'] === last).length;
  // Taken into the next wave before the cancel: posted once, that attempt aborted (and so not
  // always recorded). Still queued: never posted, and no delivery workflow.
  expect(posted).toBeLessThanOrEqual(1);
  expect(res.body.attemptCount).toBeLessThanOrEqual(posted);
  if (posted === 0) {
    expect(await describeOrUndefined(deliveryWorkflowId(last, subscriptionId))).toBeUndefined();
  }
  expect((await h.call('GET', `/v1/deliveries/${id}`)).body.status).toBe('cancelled');
});

test('cancel while the first attempt is in flight: the delivery ends cancelled after that one request', async () => {
  const { receiver } = await subscriberTo(() => ({ hang: true }));
  const eventId = await publish();
  const { id } = await deliveryOf(eventId);
  await waitFor(async () => receiver.requests.length >= 1 || undefined, 'the first attempt');
  const res = await h.call('POST', `/v1/deliveries/${id}/cancel`);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ status: 'cancelled' });
  expect(receiver.requests).toHaveLength(1);
});

test('resend of a delivery delivered on the fast path starts its own delivery workflow, which the API then names', async () => {
  const { receiver, subscriptionId } = await subscriberTo(always(200));
  const eventId = await publish();
  const { id } = await deliveryOf(eventId);
  await h.finished(id);
  const cancel = await h.call('POST', `/v1/deliveries/${id}/cancel`);
  expect(cancel.status).toBe(409);
  expect((await h.call('POST', `/v1/deliveries/${id}/resend`)).status).toBe(202);
  await waitFor(async () => receiver.requests.length >= 2 || undefined, 'the resend');
  const delivery = await waitFor(async () => {
    const res = await h.call('GET', `/v1/deliveries/${id}`);
    return res.body.status === 'succeeded' && res.body.attemptCount === 2 ? res.body : undefined;
  }, 'the resent delivery');
  expect(delivery.workflowId).toBe(deliveryWorkflowId(eventId, subscriptionId));
  expect(receiver.requests.map((request) => request.headers['webhook-id'])).toEqual([eventId, eventId]);
});

test('a large fan-out (over 100 subscribers): each delivery starts a workflow of its own, as in the default mode, and arrives once', async () => {
  const subscribers = 120;
  await h.call('POST', '/v1/event-types', { id: 'fleet.moved', description: 'fleet.moved' });
  const receiver = await TestReceiver.start(always(200));
  receivers.push(receiver);
  const subscriptionIds: string[] = [];
  for (let i = 0; i < subscribers; i += 1) {
    const res = await h.call('POST', '/v1/subscriptions', { url: `${receiver.url}/${i}`, eventTypes: ['fleet.moved'] });
    subscriptionIds.push(res.body.id);
  }
  const res = await h.call('POST', '/v1/events', { type: 'fleet.moved', data: {} });
  expect(res.body.deliveryCount).toBe(subscribers);
  await waitFor(async () => receiver.requests.length >= subscribers || undefined, `${subscribers} deliveries`, 60_000);
  expect(new Set(receiver.requests.map((request) => request.path)).size).toBe(subscribers);
  for (const subscriptionId of subscriptionIds.slice(0, 3)) {
    // Its own workflow, which completes once the delivered attempt has been recorded.
    await h.client.workflow.getHandle(deliveryWorkflowId(res.body.id, subscriptionId)).result();
    expect(await describeOrUndefined(subscriberWorkflowId(subscriptionId))).toBeUndefined();
  }
}, 90_000);
