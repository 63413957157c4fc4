/**
 * A subscription's health and its auto-disable, end to end against a real Temporal dev server and
 * receivers on loopback: every attempt keeps `health` current; a 410 Gone disables the
 * subscription at once and ends its other pending deliveries cancelled; no success for
 * WEBHOOKS_DISABLE_AFTER (here 2 s) disables it too; PATCH {"active": true} starts afresh.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { FRESH_HEALTH } from '../helpers/expected';
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
  h = await startHarness({ env, attemptTimeoutMs: 1_000, autoDisable: { disableAfterMs: 2_000, disableOnGone: true } });
  await h.call('POST', '/v1/event-types', { id: 'order.created', description: 'order.created' });
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await h?.close();
  await env?.teardown();
});

async function subscriberTo(script: Script, retryPolicy: object = FAST_RETRY) {
  const receiver = await TestReceiver.start(script);
  receivers.push(receiver);
  const res = await h.call('POST', '/v1/subscriptions', {
    url: receiver.url,
    eventTypes: ['order.created'],
    retryPolicy,
  });
  expect(res.status).toBe(201);
  expect(res.body.health).toEqual(FRESH_HEALTH);
  return { receiver, subscriptionId: res.body.id as string };
}

async function publish(): Promise<string> {
  const res = await h.call('POST', '/v1/events', { type: 'order.created', data: { orderId: 1 } });
  expect(res.status).toBe(202);
  return res.body.id;
}

async function deliveryOf(eventId: string): Promise<{ id: string }> {
  return waitFor(async () => (await h.call('GET', `/v1/deliveries?eventId=${eventId}`)).body.data[0], 'the delivery');
}

const subscription = async (id: string): Promise<any> => (await h.call('GET', `/v1/subscriptions/${id}`)).body;

test('health follows the attempts: failing after two failures, healthy again after a success', async () => {
  const { receiver, subscriptionId } = await subscriberTo(sequence({ status: 503 }, { status: 500 }, { status: 200 }));
  const eventId = await publish();
  await waitFor(async () => receiver.requests.length >= 2 || undefined, 'two failed attempts');
  const failing = await waitFor(async () => {
    const body = await subscription(subscriptionId);
    return body.health.consecutiveFailures === 2 ? body : undefined;
  }, 'two failures counted');
  expect(failing.health).toMatchObject({ status: 'failing', lastSuccessAt: null, disabledAt: null });
  expect(Date.parse(failing.health.failingSince)).toBeLessThanOrEqual(Date.parse(failing.health.lastFailureAt));

  expect((await h.finished((await deliveryOf(eventId)).id)).status).toBe('succeeded');
  const healthy = (await subscription(subscriptionId)).health;
  expect(healthy).toMatchObject({ status: 'healthy', consecutiveFailures: 0, failingSince: null });
  expect(healthy.lastSuccessAt).not.toBeNull();
  expect(healthy.lastFailureAt).toBe(failing.health.lastFailureAt);
});

test('a 410 Gone disables the subscription at once and cancels its other pending deliveries; PATCH active re-enables it', async () => {
  // The first delivery fails retryably and waits an hour for its next attempt; the next one meets a 410.
  const { receiver, subscriptionId } = await subscriberTo(sequence({ status: 503 }, { status: 410 }), {
    initialInterval: '1h',
  });
  const waiting = await deliveryOf(await publish());
  await waitFor(async () => receiver.requests.length >= 1 || undefined, 'the first attempt');
  const gone = await deliveryOf(await publish());

  expect((await h.finished(gone.id)).status).toBe('failed');
  const disabled = await subscription(subscriptionId);
  expect(disabled.active).toBe(false);
  expect(disabled.health).toMatchObject({
    status: 'disabled',
    disabledReason: 'the receiver answered 410 Gone',
    consecutiveFailures: 2,
  });
  expect(disabled.health.disabledAt).not.toBeNull();
  expect((await h.finished(waiting.id, 10_000)).status).toBe('cancelled');
  expect(receiver.requests).toHaveLength(2);

  const enabled = await h.call('PATCH', `/v1/subscriptions/${subscriptionId}`, { active: true });
  expect(enabled.status).toBe(200);
  expect(enabled.body.active).toBe(true);
  expect(enabled.body.health).toMatchObject({
    ...FRESH_HEALTH,
    lastSuccessAt: null,
    lastFailureAt: expect.any(String),
  });
});

test('no success for WEBHOOKS_DISABLE_AFTER disables the subscription; its delivery ends cancelled with that reason', async () => {
  const { receiver, subscriptionId } = await subscriberTo(always(503));
  const { id } = await deliveryOf(await publish());
  const ended = await h.finished(id, 20_000);
  expect(ended.status).toBe('cancelled');
  // Attempts every second: the one that found the receiver failing for 2 s disabled it.
  expect(receiver.requests.length).toBeGreaterThanOrEqual(3);
  const disabled = await subscription(subscriptionId);
  expect(disabled.active).toBe(false);
  expect(disabled.health.status).toBe('disabled');
  expect(disabled.health.disabledReason).toMatch(/^no attempt succeeded for 2s \(failing since /);
  // The attempt that found it disabled said why; the workflow then ended Canceled.
  const handle = h.client.workflow.getHandle(ended.workflowId);
  await handle.result().catch(() => undefined);
  const events = (await handle.fetchHistory()).events ?? [];
  const refusal = events.find((event) =>
    event.activityTaskFailedEventAttributes?.failure?.message?.startsWith('the subscription was disabled: '),
  );
  expect(refusal?.activityTaskFailedEventAttributes?.failure?.message).toContain(disabled.health.disabledReason);
  expect(events.at(-1)?.workflowExecutionCanceledEventAttributes).toBeTruthy();
});
