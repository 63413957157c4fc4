/**
 * GET /metrics of the service as `npm start` runs it (API and worker in one process, one
 * endpoint): events that succeed at once, succeed on a retry, and fail (a 4xx, a timeout, a
 * connection refused, a redirect) move the counters and histograms by exactly what happened, read
 * from the Prometheus text with a parser; the gauges come back to zero; no label names an id.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startHarness, type Harness } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { samplesOf, scrape, valueOf, type Exposition } from '../helpers/prometheus';
import { always, sequence, TestReceiver } from '../helpers/receiver';
import { FAST_RETRY } from '../helpers/retry-policies';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

let env: TestWorkflowEnvironment;
let h: Harness;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env, attemptTimeoutMs: 1_000 });
  for (const id of ['order.created', 'order.paid']) {
    expect((await h.call('POST', '/v1/event-types', { id, description: id })).status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await h?.close();
  await env?.teardown();
});

async function receiver(script: Parameters<typeof TestReceiver.start>[0]): Promise<string> {
  const started = await TestReceiver.start(script);
  receivers.push(started);
  return started.url;
}

async function subscribe(url: string, eventType: string, maximumAttempts: number | null = null): Promise<string> {
  const res = await h.call('POST', '/v1/subscriptions', {
    url,
    eventTypes: [eventType],
    retryPolicy: { ...FAST_RETRY, ...(maximumAttempts !== null ? { maximumAttempts } : {}) },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** What moved between two scrapes. */
function delta(before: Exposition, after: Exposition) {
  return (name: string, labels: Record<string, string> = {}): number =>
    valueOf(after, name, labels) - valueOf(before, name, labels);
}

test('counters and histograms move by exactly what happened; gauges read the store; labels are bounded', async () => {
  const metricsUrl = `${h.api.url}/metrics`;
  // created: a 200 at once, a 503 then a 200. paid: a 404, a hang past the deadline, a closed port, a 302.
  const ok = await subscribe(await receiver(always(200)), 'order.created');
  await subscribe(await receiver(sequence({ status: 503 }, { status: 200 })), 'order.created');
  await subscribe(await receiver(always(404)), 'order.paid');
  await subscribe(await receiver(() => ({ hang: true })), 'order.paid', 1);
  await subscribe(`http://127.0.0.1:${await freePort()}/webhook`, 'order.paid', 1);
  await subscribe(await receiver(always(302, { location: 'http://127.0.0.1:1/' })), 'order.paid', 1);

  const before = await scrape(metricsUrl);
  const created = await h.call('POST', '/v1/events', { type: 'order.created', id: 'evt-metrics-1', data: { n: 1 } });
  const paid = await h.call('POST', '/v1/events', { type: 'order.paid', data: { n: 2 } });
  const repeat = await h.call('POST', '/v1/events', { type: 'order.created', id: 'evt-metrics-1', data: { n: 1 } });
  expect([created.status, paid.status, repeat.status]).toEqual([202, 202, 202]);
  expect([created.body.deliveryCount, paid.body.deliveryCount]).toEqual([2, 4]);
  // Answers of other routes, by template: an unknown path, a missing key, a delivery by id.
  expect((await h.call('GET', '/nowhere/sub_123')).status).toBe(404);
  expect((await fetch(`${h.api.url}/v1/events`, { method: 'POST' })).status).toBe(401);

  const ended = await waitFor(
    async () => {
      const lists = await Promise.all(
        [created.body.id, paid.body.id].map((id) => h.call('GET', `/v1/deliveries?eventId=${id}`)),
      );
      const all = lists.flatMap((list) => list.body.data as Array<{ id: string; status: string }>);
      return all.length === 6 && all.every((delivery) => delivery.status !== 'pending') ? all : undefined;
    },
    'all six deliveries to end',
    15_000,
  );
  expect(ended.map((delivery) => delivery.status).sort()).toEqual([
    'failed',
    'failed',
    'failed',
    'failed',
    'succeeded',
    'succeeded',
  ]);
  const okDelivery = (await h.call('GET', `/v1/deliveries?eventId=${created.body.id}&subscriptionId=${ok}`)).body
    .data[0];
  expect((await h.call('GET', `/v1/deliveries/${okDelivery.id}`)).status).toBe(200);

  // A row is written before its counters move (the same activity, a moment later): wait for them.
  const after = await waitFor(async () => {
    const scraped = await scrape(metricsUrl);
    const settled =
      delta(before, scraped)('webhook_deliveries_ended_total') >= 6 &&
      delta(before, scraped)('webhook_attempts_total') >= 7;
    return settled ? scraped : undefined;
  }, 'the counters to reach the deliveries');
  const moved = delta(before, after);

  // Events accepted: one of each type; the repeat of an idempotent post is not a new event.
  expect(moved('webhook_events_accepted_total', { event_type: 'order.created' })).toBe(1);
  expect(moved('webhook_events_accepted_total', { event_type: 'order.paid' })).toBe(1);

  // Deliveries ended, by outcome and event type.
  expect(moved('webhook_deliveries_ended_total', { outcome: 'succeeded', event_type: 'order.created' })).toBe(2);
  expect(moved('webhook_deliveries_ended_total', { outcome: 'failed', event_type: 'order.paid' })).toBe(4);
  expect(moved('webhook_deliveries_ended_total')).toBe(6);

  // Attempts by class, counted and timed.
  const expected = { '2xx': 2, '3xx': 1, '4xx': 1, '5xx': 1, timeout: 1, network: 1, refused: 0 };
  for (const [attemptClass, count] of Object.entries(expected)) {
    expect({ attemptClass, count: moved('webhook_attempts_total', { class: attemptClass }) }).toEqual({
      attemptClass,
      count,
    });
    expect(moved('webhook_attempt_duration_seconds_count', { class: attemptClass })).toBe(count);
  }
  expect(moved('webhook_attempts_total', { event_type: 'order.created' })).toBe(3);
  expect(moved('webhook_attempts_total', { event_type: 'order.paid' })).toBe(4);
  // The timeout took the attempt's deadline (1 s); the loopback 2xx far less.
  expect(moved('webhook_attempt_duration_seconds_sum', { class: 'timeout' })).toBeGreaterThanOrEqual(0.99);
  expect(moved('webhook_attempt_duration_seconds_bucket', { class: 'timeout', le: '0.5' })).toBe(0);
  expect(moved('webhook_attempt_duration_seconds_bucket', { class: '2xx', le: '+Inf' })).toBe(2);

  // Acceptance to first 2xx: two deliveries, one of them after a 1 s backoff.
  expect(moved('webhook_delivery_latency_seconds_count')).toBe(2);
  expect(moved('webhook_delivery_latency_seconds_sum')).toBeGreaterThanOrEqual(1);
  // Which bucket the prompt one falls in depends on how busy the machine is: only the
  // retried one is bound to be at least 1 s, so at most one sits below it.
  expect(moved('webhook_delivery_latency_seconds_bucket', { le: '0.5' })).toBeLessThanOrEqual(1);
  expect(moved('webhook_delivery_latency_seconds_bucket', { le: '+Inf' })).toBe(2);

  // HTTP requests by route template, method and status.
  const http = 'webhook_http_request_duration_seconds_count';
  expect(moved(http, { method: 'POST', route: '/v1/events', status: '202' })).toBe(3);
  expect(moved(http, { method: 'POST', route: '/v1/events', status: '401' })).toBe(1);
  expect(moved(http, { method: 'GET', route: '/v1/deliveries/:id', status: '200' })).toBe(1);
  expect(moved(http, { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
  // The scrapes before this one, each counted once it was answered.
  expect(moved(http, { method: 'GET', route: '/metrics', status: '200' })).toBeGreaterThanOrEqual(1);
  expect(after.types.get('webhook_http_request_duration_seconds')).toBe('histogram');

  // Gauges, read from the store on the scrape: nothing waits any more.
  expect(valueOf(after, 'webhook_outbox_backlog_events')).toBe(0);
  expect(valueOf(after, 'webhook_outbox_oldest_age_seconds')).toBe(0);
  expect(valueOf(after, 'webhook_deliveries_pending')).toBe(0);
  expect(samplesOf(after, 'webhook_deliveries_pending')).toHaveLength(1);

  // Node's process metrics.
  expect(samplesOf(after, 'process_cpu_user_seconds_total')).toHaveLength(1);
  expect(samplesOf(after, 'nodejs_heap_size_used_bytes')).toHaveLength(1);

  // Tracing is off (no OTEL_* here): no receiver got a traceparent.
  const requests = receivers.flatMap((each) => each.requests);
  expect(requests.length).toBeGreaterThanOrEqual(6);
  expect(requests.filter((request) => request.headers.traceparent !== undefined)).toEqual([]);

  // No label value is an id (subscription, delivery, event, account) or a raw path.
  const labelValues = after.samples.flatMap((sample) => Object.values(sample.labels));
  expect(labelValues.filter((value) => /^(sub|dlv|evt|acct)_|evt-metrics|\/nowhere/.test(value))).toEqual([]);
}, 30_000);

test('the gauges count what waits: an event left in the outbox and its four pending deliveries', async () => {
  const metricsUrl = `${h.api.url}/metrics`;
  const before = await scrape(metricsUrl);
  // An event whose dispatch nobody claims: written straight to the store, as a crashed API leaves it.
  await h.store.events.ingest(
    {
      id: 'evt-outbox-1',
      type: 'order.paid',
      accountId: null,
      data: {},
      callbackUrl: null,
      callbackSecret: null,
      fingerprint: 'x',
    },
    60_000,
  );
  const after = await scrape(metricsUrl);
  expect(valueOf(after, 'webhook_outbox_backlog_events') - valueOf(before, 'webhook_outbox_backlog_events')).toBe(1);
  expect(valueOf(after, 'webhook_outbox_oldest_age_seconds')).toBeGreaterThanOrEqual(0);
  expect(valueOf(after, 'webhook_deliveries_pending') - valueOf(before, 'webhook_deliveries_pending')).toBe(4);
});
