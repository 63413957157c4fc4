/**
 * Operational events, end to end against a real Temporal dev server and receivers on loopback:
 * the service registers its reserved event types, refuses them from clients, and publishes
 * `webhook.subscription.disabled`, `webhook.subscription.failing` and `webhook.delivery.failed`
 * through its own delivery machinery, signed like any other, to operators' subscriptions, with
 * the affected subscription's accountId. A delivery of an operational event never produces another.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Webhook } from 'standardwebhooks';
import { FAILING_THRESHOLD, OPERATIONAL_EVENT_TYPES } from '../../core/operational-events';
import { startHarness, type Harness } from '../helpers/harness';
import { always, TestReceiver, type ReceivedRequest, type Script } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

/** One attempt only: every failure ends its delivery at once. */
const ONE_ATTEMPT = { maximumAttempts: 1 };
const ALL_OPERATIONAL = Object.values(OPERATIONAL_EVENT_TYPES);

let env: TestWorkflowEnvironment;
let h: Harness;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env, attemptTimeoutMs: 1_000 });
  await h.call('POST', '/v1/event-types', { id: 'order.created', description: 'order.created' });
}, 120_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await h?.close();
  await env?.teardown();
});

interface Subscriber {
  readonly receiver: TestReceiver;
  readonly id: string;
  readonly secret: string;
}

async function subscribe(
  script: Script,
  body: { eventTypes: string[]; accountId?: string; retryPolicy?: object },
): Promise<Subscriber> {
  const receiver = await TestReceiver.start(script);
  receivers.push(receiver);
  const res = await h.call('POST', '/v1/subscriptions', { url: receiver.url, retryPolicy: ONE_ATTEMPT, ...body });
  expect(res.status).toBe(201);
  return { receiver, id: res.body.id, secret: res.body.secret };
}

async function publish(accountId: string): Promise<string> {
  const res = await h.call('POST', '/v1/events', { type: 'order.created', accountId, data: { orderId: 1 } });
  expect(res.status).toBe(202);
  return res.body.id;
}

/** The operational events of `type` the operator received, verified with its secret. */
function received(operator: Subscriber, type: string): Array<{ type: string; accountId: string | null; data: any }> {
  return operator.receiver.requests
    .map((request: ReceivedRequest) =>
      new Webhook(operator.secret).verify(request.body, request.headers as Record<string, string>),
    )
    .filter((payload: any) => payload.type === type) as never;
}

async function receive(operator: Subscriber, type: string, count = 1) {
  return waitFor(() => {
    const events = received(operator, type);
    return events.length >= count ? events : undefined;
  }, `${count} × ${type}`);
}

test('the reserved types are registered and listed; clients can neither publish nor register them (422 naming the field)', async () => {
  const listed = await h.call('GET', '/v1/event-types');
  expect(listed.body.data.map((type: { id: string }) => type.id)).toEqual(expect.arrayContaining(ALL_OPERATIONAL));

  const posted = await h.call('POST', '/v1/events', { type: OPERATIONAL_EVENT_TYPES.deliveryFailed, data: {} });
  expect(posted.status).toBe(422);
  expect(posted.body.error.details).toEqual([{ path: 'type', message: expect.stringContaining("'webhook.'") }]);

  const registered = await h.call('POST', '/v1/event-types', { id: 'webhook.custom.thing' });
  expect(registered.status).toBe(422);
  expect(registered.body.error.details).toEqual([{ path: 'id', message: expect.stringContaining("'webhook.'") }]);
});

test("a 410 disables the subscription: the operator hears webhook.subscription.disabled and webhook.delivery.failed, signed, with the account's id", async () => {
  const operator = await subscribe(always(200), { eventTypes: ALL_OPERATIONAL });
  const gone = await subscribe(always(410), { eventTypes: ['order.created'], accountId: 'acme' });
  const eventId = await publish('acme');

  const [disabled] = await receive(operator, OPERATIONAL_EVENT_TYPES.subscriptionDisabled);
  expect(disabled).toMatchObject({
    accountId: 'acme',
    data: {
      subscriptionId: gone.id,
      url: gone.receiver.url,
      reason: 'the receiver answered 410 Gone',
      failingSince: expect.any(String),
    },
  });
  const [failed] = await receive(operator, OPERATIONAL_EVENT_TYPES.deliveryFailed);
  const delivery = (await h.call('GET', `/v1/deliveries?eventId=${eventId}`)).body.data[0];
  expect(failed).toEqual({
    id: expect.any(String),
    type: OPERATIONAL_EVENT_TYPES.deliveryFailed,
    timestamp: expect.any(String),
    accountId: 'acme',
    data: {
      deliveryId: delivery.id,
      eventId,
      eventType: 'order.created',
      subscriptionId: gone.id,
      reason: expect.stringContaining('410'),
    },
  });
  expect((await h.call('GET', `/v1/subscriptions/${gone.id}`)).body.health.status).toBe('disabled');
});

test(`webhook.subscription.failing once, at ${FAILING_THRESHOLD} failed attempts in a row; an account's operator hears of its own endpoints only`, async () => {
  const operator = await subscribe(always(200), {
    eventTypes: [OPERATIONAL_EVENT_TYPES.subscriptionFailing],
    accountId: 'globex',
  });
  const otherAccountsOperator = await subscribe(always(200), {
    eventTypes: [OPERATIONAL_EVENT_TYPES.subscriptionFailing],
    accountId: 'initech',
  });
  const failing = await subscribe(always(500), { eventTypes: ['order.created'], accountId: 'globex' });
  for (let i = 0; i < FAILING_THRESHOLD + 2; i += 1) await publish('globex');
  await waitFor(() => failing.receiver.requests.length >= FAILING_THRESHOLD + 2 || undefined, 'every attempt');

  const [notice] = await receive(operator, OPERATIONAL_EVENT_TYPES.subscriptionFailing);
  expect(notice).toMatchObject({
    accountId: 'globex',
    data: {
      subscriptionId: failing.id,
      url: failing.receiver.url,
      reason: 'receiver answered HTTP 500',
      consecutiveFailures: FAILING_THRESHOLD,
      failingSince: expect.any(String),
    },
  });
  // Past the threshold, and a moment for anything late: still one, and none for the other account.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect(received(operator, OPERATIONAL_EVENT_TYPES.subscriptionFailing)).toHaveLength(1);
  expect(otherAccountsOperator.receiver.requests).toHaveLength(0);
});

test("no loop: the operator's own endpoint failing produces no operational event about its deliveries", async () => {
  const operator = await subscribe(always(500), { eventTypes: ALL_OPERATIONAL, accountId: 'hooli' });
  const customer = await subscribe(always(400), { eventTypes: ['order.created'], accountId: 'hooli' });
  await publish('hooli');
  await waitFor(() => customer.receiver.requests.length >= 1 || undefined, "the customer's attempt");
  // The customer's failure reaches the operator (which fails it); that failure is reported to no one.
  await waitFor(() => operator.receiver.requests.length >= 1 || undefined, 'the operational event');
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  expect(operator.receiver.requests).toHaveLength(1);
  const operational = await h.call('GET', `/v1/deliveries?subscriptionId=${operator.id}`);
  expect(operational.body.data).toHaveLength(1);
  expect(operational.body.data[0]).toMatchObject({ eventType: OPERATIONAL_EVENT_TYPES.deliveryFailed });
  expect((await h.finished(operational.body.data[0].id)).status).toBe('failed');
});
