/**
 * The Temporal SDK's worker metrics, exported by its native core through the runtime's telemetry
 * options (src/logger.ts installSdkLogging) and appended to the service's own GET /metrics: one
 * scrape carries the webhook metrics and the worker's task slots, schedule-to-start latencies,
 * sticky cache and task latencies, with no metric family twice.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createLogger, installSdkLogging, sdkMetricsUrl } from '../../src/logger';
import { startHarness, type Harness } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { samplesOf, scrape, valueOf } from '../helpers/prometheus';
import { sequence, TestReceiver } from '../helpers/receiver';
import { FAST_RETRY } from '../helpers/retry-policies';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

let env: TestWorkflowEnvironment;
let h: Harness;
let receiver: TestReceiver;

beforeAll(async () => {
  // Before the first connection: the runtime is the process's, installed once, as main.ts does.
  const port = await freePort();
  installSdkLogging(createLogger('silent'), { metricsPort: port });
  env = await createTestTemporal();
  h = await startHarness({ env, attemptTimeoutMs: 1_000, sdkMetricsUrl: sdkMetricsUrl(port) });
  receiver = await TestReceiver.start(sequence({ status: 503 }, { status: 200 }));
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await h?.close();
  await env?.teardown();
});

test("the SDK's worker metrics come with the service's, in one scrape", async () => {
  expect((await h.call('POST', '/v1/event-types', { id: 'order.created' })).status).toBe(201);
  const sub = await h.call('POST', '/v1/subscriptions', {
    url: receiver.url,
    eventTypes: ['order.created'],
    retryPolicy: FAST_RETRY,
  });
  expect(sub.status).toBe(201);
  // A 503, then a 200 a second later: the local first attempt, then the regular activity.
  const event = await h.call('POST', '/v1/events', { type: 'order.created', data: {} });
  expect(event.status).toBe(202);
  await waitFor(async () => {
    const listed = (await h.call('GET', `/v1/deliveries?eventId=${event.body.id}`)).body.data?.[0];
    return listed?.status === 'succeeded' ? listed : undefined;
  }, 'the delivery to succeed');

  const metrics = await waitFor(async () => {
    const scraped = await scrape(`${h.api.url}/metrics`);
    // The activity records the success; the workflow completes in the task after it.
    return valueOf(scraped, 'temporal_workflow_completed_total') >= 1 ? scraped : undefined;
  }, 'the SDK to report the workflow completed');
  const queue = { task_queue: h.taskQueue };

  // Ours, and the SDK's.
  expect(valueOf(metrics, 'webhook_attempts_total', { class: '5xx' })).toBe(1);
  expect(valueOf(metrics, 'webhook_attempts_total', { class: '2xx' })).toBe(1);
  for (const workerType of ['WorkflowWorker', 'ActivityWorker', 'LocalActivityWorker']) {
    const used = samplesOf(metrics, 'temporal_worker_task_slots_used', { ...queue, worker_type: workerType });
    const free = samplesOf(metrics, 'temporal_worker_task_slots_available', { ...queue, worker_type: workerType });
    expect({ workerType, used: used.length, free: free.length }).toEqual({ workerType, used: 1, free: 1 });
  }
  expect(valueOf(metrics, 'temporal_workflow_task_schedule_to_start_latency_seconds_count', queue)).toBeGreaterThan(0);
  expect(valueOf(metrics, 'temporal_activity_schedule_to_start_latency_seconds_count', queue)).toBe(1);
  expect(valueOf(metrics, 'temporal_workflow_task_execution_latency_seconds_count', queue)).toBeGreaterThan(0);
  expect(valueOf(metrics, 'temporal_activity_execution_latency_seconds_count', queue)).toBe(1);
  expect(valueOf(metrics, 'temporal_local_activity_execution_latency_seconds_count', queue)).toBe(1);
  expect(samplesOf(metrics, 'temporal_sticky_cache_size')).not.toHaveLength(0);
  expect(valueOf(metrics, 'temporal_workflow_completed_total', queue)).toBe(1);

  // Every family declared once: the two expositions share no metric name.
  const text = await (await fetch(`${h.api.url}/metrics`)).text();
  const declared = text.split('\n').filter((line) => line.startsWith('# TYPE '));
  expect(declared.length).toBeGreaterThan(20);
  expect(new Set(declared.map((line) => line.split(' ')[2])).size).toBe(declared.length);
}, 30_000);
