/**
 * Throttled subscriptions, end to end in both delivery modes against a real Temporal dev server,
 * two workers sharing one store, and a receiver on loopback: `throttleRate` holds across the
 * workers, and a delivery waiting for its turn uses no attempt.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { DeliveryMode } from '../../core/model';
import type { Db } from '../../src/store/db';
import { openPglite } from '../../src/store/pglite';
import { startExtraWorker, startHarness, type Harness } from '../helpers/harness';
import { ArrivalRecorder } from '../helpers/arrival-recorder';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { FAST_RETRY } from '../helpers/retry-policies';

const EVENTS = 100;
const RATE = 5;

let env: TestWorkflowEnvironment;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  env = await createTestTemporal();
}, 120_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await env?.teardown();
});

/** The most requests that arrived in any one second, counting from each arrival. */
function busiestSecond(arrivals: readonly number[]): number {
  const sorted = [...arrivals].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i += 1) {
    while (j < sorted.length && (sorted[j] as number) < (sorted[i] as number) + 1_000) j += 1;
    most = Math.max(most, j - i);
  }
  return most;
}

describe.each<DeliveryMode>(['per-delivery', 'per-subscriber'])('%s', (deliveryMode) => {
  let h: Harness;

  beforeAll(async () => {
    const db: Db = await openPglite(undefined);
    closers.push(() => db.close());
    // A generous attempt deadline: a POST the receiver answered at once must not be cut by this
    // busy process (the service, two workers and the store) reading its answer late.
    h = await startHarness({ env, db, attemptTimeoutMs: 15_000, deliveryMode });
    closers.push(() => h.close());
    const second = await startExtraWorker(h, { env, db, deliveryMode });
    closers.push(() => second.close());
    await h.call('POST', '/v1/event-types', { id: 'order.created', description: 'order.created' });
  }, 120_000);

  test(`throttleRate ${RATE}/s across two workers: ${EVENTS} events posted at once arrive at most ${RATE + 1} in any second, all within 25 s of the first, once each`, async () => {
    // Timed in a process of its own: the arrivals a receiver sees, not this process's scheduling.
    const receiver = await ArrivalRecorder.start();
    closers.push(() => receiver.close());
    const created = await h.call('POST', '/v1/subscriptions', {
      url: receiver.url,
      eventTypes: ['order.created'],
      retryPolicy: FAST_RETRY,
      throttleRate: RATE,
    });
    expect(created.status).toBe(201);
    expect(created.body.throttleRate).toBe(RATE);

    const posted = await Promise.all(
      Array.from({ length: EVENTS }, (_, i) => h.call('POST', '/v1/events', { type: 'order.created', data: { i } })),
    );
    for (const res of posted) expect(res.status).toBe(202);
    // A delivery waiting for its turn shows when it goes out: its slot.
    await waitFor(async () => {
      const pending = await h.call('GET', `/v1/deliveries?subscriptionId=${created.body.id}&status=pending&limit=100`);
      return (
        pending.body.data.some(
          (delivery: { nextAttemptAt: string | null }) =>
            delivery.nextAttemptAt !== null && Date.parse(delivery.nextAttemptAt) > Date.now() + 1_000,
        ) || undefined
      );
    }, 'a delivery waiting for its slot');
    await waitFor(() => receiver.arrivals.length >= EVENTS || undefined, `${EVENTS} deliveries`, 30_000, 100);
    const arrivals = receiver.arrivals.map((arrival) => arrival.at);
    // All within 25 s of the first.
    expect(Math.max(...arrivals) - Math.min(...arrivals)).toBeLessThan(25_000);
    expect(busiestSecond(arrivals)).toBeLessThanOrEqual(RATE + 1);
    const ids = receiver.arrivals.map((arrival) => arrival.webhookId);
    const seen = new Map<string | null, number[]>();
    for (const a of receiver.arrivals)
      seen.set(a.webhookId, [...(seen.get(a.webhookId) ?? []), a.at - (arrivals[0] as number)]);
    for (const [id, ats] of seen)
      if (ats.length > 1) {
        const ds = await h.call('GET', `/v1/deliveries?eventId=${id}`);
        const d = ds.body.data[0];
        const full = await h.call('GET', `/v1/deliveries/${d.id}`);
        const wf = await h.client.workflow.getHandle(d.workflowId).fetchHistory();
        console.log(
          'DUP',
          id,
          ats,
          JSON.stringify(full.body),
          JSON.stringify(
            wf.events?.map((e: any) => [e.eventType, e.eventTime?.seconds?.toString(), e.eventTime?.nanos]),
          ),
        );
      }
    expect(new Set(ids).size).toBe(EVENTS);

    // Waiting for a turn used no attempt: each delivery took exactly one.
    const deliveries = await h.call('GET', `/v1/deliveries?subscriptionId=${created.body.id}&limit=100`);
    expect(deliveries.body.data).toHaveLength(EVENTS);
    for (const delivery of deliveries.body.data) expect(delivery.attemptCount).toBe(1);
  }, 60_000);
});

describe('throttleRate in the API', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ env, worker: false });
    closers.push(() => h.close());
    await h.call('POST', '/v1/event-types', { id: 'order.created', description: 'order.created' });
  }, 120_000);

  test.each([
    [0, 'must be greater than 0'],
    [-1, 'must be greater than 0'],
    [10_001, 'must be at most 10000'],
    ['5', 'must be a number of deliveries per second, or null'],
  ])('%j is refused with 422 naming throttleRate', async (throttleRate, message) => {
    const res = await h.call('POST', '/v1/subscriptions', {
      url: 'https://hooks.example.com/in',
      eventTypes: ['order.created'],
      throttleRate,
    });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([{ path: 'throttleRate', message }]);
  });

  test('null by default; PATCH sets it, changes it and sets it back to null', async () => {
    const created = await h.call('POST', '/v1/subscriptions', {
      url: 'https://hooks.example.com/in',
      eventTypes: ['order.created'],
    });
    expect(created.body.throttleRate).toBeNull();
    const id = created.body.id as string;
    expect((await h.call('PATCH', `/v1/subscriptions/${id}`, { throttleRate: 0.5 })).body.throttleRate).toBe(0.5);
    expect((await h.call('GET', `/v1/subscriptions/${id}`)).body.throttleRate).toBe(0.5);
    expect((await h.call('PATCH', `/v1/subscriptions/${id}`, { throttleRate: null })).body.throttleRate).toBeNull();
  });
});
