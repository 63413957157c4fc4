/**
 * The 48-hour retry window, proven on Temporal's time-skipping test server: the real API, workflow
 * and activities (PGlite store) against a loopback receiver that always answers 500, with two days
 * of workflow time skipped in a few seconds.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DELIVERY_STATUS } from '../../core/search-attributes';
import type { deliveryWorkflow } from '../../workflows';
import { statusQuery, type DeliveryState } from '../../workflows/messages';
import { DEFAULT_RETRY_POLICY, MAX_DELIVERY_WINDOW_MS, nextAttemptAt } from '../../core/retry-policy';
import { startHarness, type Harness } from '../helpers/harness';
import { always, TestReceiver } from '../helpers/receiver';
import { createTimeSkippingTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

const HOUR_MS = 3_600_000;

let env: TestWorkflowEnvironment;
let h: Harness;
let receiver: TestReceiver;

beforeAll(async () => {
  env = await createTimeSkippingTemporal();
  h = await startHarness({ env });
  receiver = await TestReceiver.start(always(500));
  expect((await h.call('POST', '/v1/event-types', { id: 'order.created', description: 'order.created' })).status).toBe(
    201,
  );
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await h?.close();
  await env?.teardown();
});

/** Offsets from the first attempt (ms) at which the default policy starts an attempt within the window. */
function plannedAttemptOffsets(): number[] {
  const offsets = [0];
  for (let attempt = 1; attempt < 10_000; attempt += 1) {
    const next = nextAttemptAt({
      policy: DEFAULT_RETRY_POLICY,
      attempt,
      now: offsets[attempt - 1]!,
      windowEndsAt: DEFAULT_RETRY_POLICY.maxDurationMs,
    });
    if (next === null) break;
    offsets.push(next);
  }
  return offsets;
}

const millis = (time: temporal.api.history.v1.IHistoryEvent['eventTime']): number =>
  Number(time?.seconds ?? 0) * 1_000 + Math.floor((time?.nanos ?? 0) / 1_000_000);

test('a receiver that always answers 500 is retried under the default policy until no attempt fits in 48 h', async () => {
  const planned = plannedAttemptOffsets();
  const lastPlanned = planned[planned.length - 1]!;
  // 10 s, 20 s, … up to 1 h, then hourly: ~56 attempts, the last one ~47.4 h after the first.
  expect(planned.length).toBeGreaterThan(50);
  expect(lastPlanned).toBeLessThan(MAX_DELIVERY_WINDOW_MS);
  expect(lastPlanned + DEFAULT_RETRY_POLICY.maximumIntervalMs).toBeGreaterThanOrEqual(MAX_DELIVERY_WINDOW_MS);

  const sub = await h.call('POST', '/v1/subscriptions', { url: receiver.url, eventTypes: ['order.created'] });
  expect(sub.status).toBe(201);
  const event = await h.call('POST', '/v1/events', { type: 'order.created', data: { orderId: 1 } });
  expect(event.status).toBe(202);
  const delivery = await waitFor(async () => {
    const res = await h.call('GET', `/v1/deliveries?eventId=${event.body.id}`);
    return res.body.data?.[0];
  }, 'the delivery row');
  // The environment's own client skips time while it awaits a result.
  const handle: WorkflowHandle<typeof deliveryWorkflow> = env.client.workflow.getHandle(delivery.workflowId);
  await receiver.waitForRequests(1);
  const { startTime } = await handle.describe();

  // Time moves only while the test sleeps on the server or awaits the result.
  await env.sleep('47h');
  expect((await env.currentTimeMs()) - startTime.getTime()).toBeGreaterThanOrEqual(47 * HOUR_MS);
  expect(await handle.query(statusQuery)).toMatchObject({ status: 'pending', reason: null });
  expect((await h.call('GET', `/v1/deliveries/${delivery.id}`)).body.status).toBe('pending');
  const plannedBy47h = planned.filter((offset) => offset <= 47 * HOUR_MS).length;
  expect(Math.abs(receiver.requests.length - plannedBy47h)).toBeLessThanOrEqual(1);

  // The delivery ends its workflow as Failed, RetryWindowClosed, with its final state as the failure's detail.
  const failure = await handle.result().then(
    () => undefined,
    (error: unknown) => (error instanceof WorkflowFailedError ? error.cause : undefined),
  );
  expect(failure).toBeInstanceOf(ApplicationFailure);
  const { type, message, details } = failure as ApplicationFailure;
  expect(type).toBe('RetryWindowClosed');
  expect(message).toMatch(/^no attempt left in the retry window; last attempt: receiver answered HTTP 500/);
  const result = details?.[0] as DeliveryState;
  expect(result).toMatchObject({ status: 'failed', reason: message });
  expect(Date.parse(result.windowEndsAt) - Date.parse(result.windowStartedAt)).toBe(MAX_DELIVERY_WINDOW_MS);
  expect(Math.abs(receiver.requests.length - planned.length)).toBeLessThanOrEqual(1);

  const stored = (await h.call('GET', `/v1/deliveries/${delivery.id}`)).body;
  expect(stored).toMatchObject({ status: 'failed', attemptCount: receiver.requests.length, nextAttemptAt: null });
  const attempts = (await h.call('GET', `/v1/deliveries/${delivery.id}/attempts?limit=100`)).body.data;
  expect(attempts.map((a: { attempt: number }) => a.attempt)).toEqual(receiver.requests.map((_r, i) => i + 1));
  expect(attempts.every((a: { statusCode: number }) => a.statusCode === 500)).toBe(true);

  // Workflow time, from the server. The first attempt ran as a local activity (a marker); the
  // activity made the others, and Temporal keeps one started event, for the last of them.
  const events = (await handle.fetchHistory()).events ?? [];
  const firstAttempt = events.find((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
  const started = events.find((e) => e.activityTaskStartedEventAttributes);
  expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(receiver.requests.length - 1);
  const firstAttemptAt = millis(firstAttempt?.eventTime);
  const lastAttemptAt = millis(started?.eventTime);
  expect(lastAttemptAt - firstAttemptAt).toBeLessThan(MAX_DELIVERY_WINDOW_MS);
  expect(lastAttemptAt - firstAttemptAt).toBeGreaterThan(
    MAX_DELIVERY_WINDOW_MS - DEFAULT_RETRY_POLICY.maximumIntervalMs,
  );
  expect(Math.abs(lastAttemptAt - firstAttemptAt - lastPlanned)).toBeLessThan(60_000);

  const description = await handle.describe();
  const closedAfter = description.closeTime!.getTime() - description.startTime.getTime();
  expect(closedAfter).toBeGreaterThanOrEqual(47 * HOUR_MS);
  expect(closedAfter).toBeGreaterThanOrEqual(lastAttemptAt - firstAttemptAt);
  expect(closedAfter).toBeLessThan(MAX_DELIVERY_WINDOW_MS);
  expect(description.typedSearchAttributes.get(DELIVERY_STATUS)).toBe('failed');
});
