/**
 * Pausing a subscription, end to end in both delivery modes against a real Temporal dev server
 * and a receiver on loopback: while paused nothing is posted and no attempt is used; PATCH
 * {"paused": false} sends everything that waited within seconds, each once.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { DeliveryMode } from '../../core/model';
import { startHarness, type Harness } from '../helpers/harness';
import { always, TestReceiver } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { FAST_RETRY } from '../helpers/retry-policies';

let env: TestWorkflowEnvironment;
const harnesses: Harness[] = [];
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  env = await createTestTemporal();
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  for (const h of harnesses) await h.close();
  await env?.teardown();
});

describe.each<DeliveryMode>(['per-delivery', 'per-subscriber'])('%s', (deliveryMode) => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ env, attemptTimeoutMs: 1_000, deliveryMode });
    harnesses.push(h);
    await h.call('POST', '/v1/event-types', { id: 'order.created', description: 'order.created' });
  }, 120_000);

  test('paused: nothing is posted, no attempt used; resumed: every waiting delivery arrives within 5 s, once', async () => {
    const receiver = await TestReceiver.start(always(200));
    receivers.push(receiver);
    const created = await h.call('POST', '/v1/subscriptions', {
      url: receiver.url,
      eventTypes: ['order.created'],
      retryPolicy: FAST_RETRY,
      paused: true,
    });
    expect(created.status).toBe(201);
    expect(created.body.paused).toBe(true);
    const subscriptionId = created.body.id as string;

    const eventIds: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await h.call('POST', '/v1/events', { type: 'order.created', data: { orderId: i } });
      expect(res.status).toBe(202);
      expect(res.body.deliveryCount).toBe(1);
      eventIds.push(res.body.id);
    }
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(receiver.requests).toHaveLength(0);
    const waiting = await h.call('GET', `/v1/deliveries?subscriptionId=${subscriptionId}`);
    expect(waiting.body.data).toHaveLength(3);
    for (const delivery of waiting.body.data) expect(delivery).toMatchObject({ status: 'pending', attemptCount: 0 });

    const resumedAt = Date.now();
    const resumed = await h.call('PATCH', `/v1/subscriptions/${subscriptionId}`, { paused: false });
    expect(resumed.status).toBe(200);
    expect(resumed.body.paused).toBe(false);
    await waitFor(async () => receiver.requests.length >= 3 || undefined, 'the waiting deliveries', 5_000);
    expect(Math.max(...receiver.requests.map((request) => request.receivedAt)) - resumedAt).toBeLessThan(5_000);
    expect(receiver.requests.map((request) => request.headers['webhook-id']).sort()).toEqual([...eventIds].sort());
    for (const delivery of waiting.body.data) {
      expect(await h.finished(delivery.id)).toMatchObject({ status: 'succeeded', attemptCount: 1 });
    }
  });
});
