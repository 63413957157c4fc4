/**
 * One trace per event, from the producer's traceparent to the receiver's: the API's
 * `POST /v1/events` span continues the producer's trace; the workflow start, the workflow, each
 * attempt's scheduling and run, and each POST to the receiver are its descendants (spans read
 * from an in-memory exporter); and every POST carries a traceparent naming its own span.
 */
import { randomBytes } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { startTracingWith, type Tracing } from '../../src/tracing';
import { startHarness, workflowBundle, type Harness } from '../helpers/harness';
import { TestReceiver } from '../helpers/receiver';
import { FAST_RETRY } from '../helpers/retry-policies';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let env: TestWorkflowEnvironment;
let h: Harness;
let receiver: TestReceiver;

beforeAll(async () => {
  tracing = startTracingWith({ exporter, processor: 'simple' });
  env = await createTestTemporal();
  h = await startHarness({ env, attemptTimeoutMs: 1_000, tracing });
  // Per delivery: a 503, then a 200.
  receiver = await TestReceiver.start((_request, n) => (n % 2 === 1 ? { status: 503 } : { status: 200 }));
  expect((await h.call('POST', '/v1/event-types', { id: 'order.created' })).status).toBe(201);
  const sub = await h.call('POST', '/v1/subscriptions', {
    url: receiver.url,
    eventTypes: ['order.created'],
    retryPolicy: FAST_RETRY,
  });
  expect(sub.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await h?.close();
  await env?.teardown();
  await tracing?.shutdown();
});

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** The spans of one trace, once the workflow's own span has ended (it ends last). */
function traceSpans(traceId: string): Promise<ReadableSpan[]> {
  return waitFor(() => {
    const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
    return spans.some((span) => span.name === 'RunWorkflow:deliveryWorkflow') ? spans : undefined;
  }, `the spans of trace ${traceId}`);
}

/** A span's ancestors' names, nearest first, as far as the trace has them. */
function ancestry(span: ReadableSpan, byId: Map<string, ReadableSpan>): string[] {
  const names: string[] = [];
  for (let parent = span.parentSpanId; parent !== undefined; parent = byId.get(parent)?.parentSpanId) {
    names.push(byId.get(parent)?.name ?? `(not in the trace: ${parent})`);
  }
  return names;
}

async function deliver(headers: Record<string, string>): Promise<{ eventId: string; requests: number }> {
  const before = receiver.requests.length;
  const event = await h.call('POST', '/v1/events', { type: 'order.created', data: { orderId: 1 } }, headers);
  expect(event.status).toBe(202);
  await waitFor(async () => {
    const delivery = (await h.call('GET', `/v1/deliveries?eventId=${event.body.id}`)).body.data?.[0];
    return delivery?.status === 'succeeded' ? delivery : undefined;
  }, 'the delivery to succeed');
  return { eventId: event.body.id, requests: before };
}

test("one trace from the producer's traceparent through the API, the workflow and each attempt to the receiver", async () => {
  const traceId = hex(16);
  const producerSpanId = hex(8);
  const { requests: firstRequest } = await deliver({ traceparent: `00-${traceId}-${producerSpanId}-01` });

  const spans = await traceSpans(traceId);
  const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]));
  const named = (name: string): ReadableSpan[] => spans.filter((span) => span.name === name);

  // The API's span continues the producer's.
  const [api] = named('POST /v1/events');
  expect(api).toBeDefined();
  expect(api!.kind).toBe(SpanKind.SERVER);
  expect(api!.parentSpanId).toBe(producerSpanId);
  expect(api!.attributes).toMatchObject({ 'http.route': '/v1/events', 'http.response.status_code': 202 });

  // The start, the workflow, two attempts (the local first, then the activity), two POSTs.
  expect(named('StartWorkflow:deliveryWorkflow')).toHaveLength(1);
  expect(named('RunWorkflow:deliveryWorkflow')).toHaveLength(1);
  expect(named('StartActivity:postWebhook')).toHaveLength(2);
  expect(named('RunActivity:postWebhook')).toHaveLength(2);
  const posts = named('POST webhook').sort(
    (a, b) => Number(a.attributes['webhook.attempt']) - Number(b.attributes['webhook.attempt']),
  );
  expect(
    posts.map((post) => [post.kind, post.attributes['webhook.attempt'], post.attributes['http.response.status_code']]),
  ).toEqual([
    [SpanKind.CLIENT, 1, 503],
    [SpanKind.CLIENT, 2, 200],
  ]);
  for (const post of posts) {
    expect(ancestry(post, byId)).toEqual([
      'RunActivity:postWebhook',
      'StartActivity:postWebhook',
      'RunWorkflow:deliveryWorkflow',
      'StartWorkflow:deliveryWorkflow',
      'POST /v1/events',
      `(not in the trace: ${producerSpanId})`,
    ]);
  }

  // A traced history replays on the same workflow code (a worker that restarts, an evicted workflow).
  const workflowId = String(named('StartWorkflow:deliveryWorkflow')[0]!.attributes.temporalWorkflowId);
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  await Worker.runReplayHistory(
    {
      workflowBundle: await workflowBundle(),
      replayName: 'traced',
      sinks: { exporter: { export: { fn: () => undefined } } },
    },
    history,
    workflowId,
  );

  // The receiver got a traceparent of this trace in each POST: the POST's own span.
  const received = receiver.requests
    .slice(firstRequest, firstRequest + 2)
    .map((request) => request.headers.traceparent);
  expect(received).toEqual(posts.map((post) => `00-${traceId}-${post.spanContext().spanId}-01`));
});

test('without a traceparent, the API starts the trace: one trace per event all the same', async () => {
  const traced = new Set(exporter.getFinishedSpans().map((span) => span.spanContext().traceId));
  const { requests: firstRequest } = await deliver({});
  const [request] = receiver.requests.slice(firstRequest);
  const [, traceId] = /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/.exec(String(request?.headers.traceparent)) ?? [];
  expect(traceId).toBeDefined();
  expect(traced.has(traceId!)).toBe(false);
  const spans = await traceSpans(traceId!);
  const root = spans.filter((span) => span.parentSpanId === undefined);
  expect(root.map((span) => span.name)).toEqual(['POST /v1/events']);
});
