/** What the tests of bulk operations (recover, replay) share: failed deliveries, and waiting for an operation. */
import type { Harness } from './harness';
import { always, type TestReceiver } from './receiver';
import { waitFor } from './wait';

/** Publishes the events, 25 at a time; their ids in the order published. */
export async function publish(h: Harness, events: ReadonlyArray<Record<string, unknown>>): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < events.length; i += 25) {
    const answers = await Promise.all(events.slice(i, i + 25).map((event) => h.call('POST', '/v1/events', event)));
    for (const answer of answers) {
      if (answer.status !== 202) throw new Error(`POST /v1/events answered ${answer.status}`);
      ids.push(answer.body.id);
    }
  }
  return ids;
}

export async function countDeliveries(h: Harness, subscriptionId: string, status: string): Promise<number> {
  const rows = await h.store.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM deliveries WHERE subscription_id = $1 AND status = $2',
    [subscriptionId, status],
  );
  return rows[0]?.n ?? 0;
}

/**
 * A subscription of `eventType` (registered here) to `receiver`, with `count` deliveries that
 * failed against it: it answers 503, and each delivery has one attempt. Then the receiver is
 * fixed (it answers 200 from now on) and forgets what it received. Returns the subscription's id.
 */
export async function failedDeliveries(
  h: Harness,
  receiver: TestReceiver,
  eventType: string,
  count: number,
): Promise<string> {
  receiver.script = always(503);
  if ((await h.call('POST', '/v1/event-types', { id: eventType })).status !== 201) throw new Error('event type');
  const subscription = await h.call('POST', '/v1/subscriptions', {
    url: receiver.url,
    eventTypes: [eventType],
    retryPolicy: { maximumAttempts: 1 },
  });
  const subscriptionId = subscription.body.id as string;
  await publish(
    h,
    Array.from({ length: count }, (_, n) => ({ type: eventType, data: { n } })),
  );
  await waitFor(
    async () => ((await countDeliveries(h, subscriptionId, 'failed')) === count ? true : undefined),
    `${count} failed deliveries`,
    90_000,
    250,
  );
  receiver.script = always(200);
  receiver.requests.length = 0;
  return subscriptionId;
}

/** The operation as `GET /v1/operations/:id` answers once it has ended. */
export function ended(h: Harness, operationId: string, timeoutMs = 60_000): Promise<any> {
  return waitFor(
    async () => {
      const res = await h.call('GET', `/v1/operations/${operationId}`);
      return res.body.status === 'running' ? undefined : res.body;
    },
    `operation ${operationId} to end`,
    timeoutMs,
    100,
  );
}

/** How often each webhook-id arrived at the receiver. */
export function webhookIds(receiver: TestReceiver): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of receiver.requests) {
    const id = String(request.headers['webhook-id']);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Waits for `expected` requests, then lets strays arrive (a delivery sent twice lands within this): the count then. */
export async function settledCount(receiver: TestReceiver, expected: number): Promise<number> {
  await receiver.waitForRequests(expected, 60_000);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  return receiver.requests.length;
}
