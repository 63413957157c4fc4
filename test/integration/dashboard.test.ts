/**
 * The Grafana dashboard kept in the repository (observability/grafana/dashboards/) and the compose
 * profile's Prometheus configuration: the JSON parses into panels that each query the provisioned
 * data source, and every metric a query names is one the service, the Temporal SDK or the Temporal
 * server exports: checked against their live /metrics after a delivery that exercises them (a
 * first attempt answered 503, then a retry through the task queue answered 200).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createLogger, installSdkLogging, sdkMetricsUrl } from '../../src/logger';
import { startHarness, type Harness } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { scrape, type Exposition } from '../helpers/prometheus';
import { sequence, TestReceiver } from '../helpers/receiver';
import { FAST_RETRY } from '../helpers/retry-policies';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

const ROOT = path.join(__dirname, '../..');
const DASHBOARD = path.join(ROOT, 'observability/grafana/dashboards/webhook-delivery.json');

interface Target {
  readonly expr: string;
  readonly refId: string;
  readonly datasource?: { uid?: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { uid?: string };
  readonly gridPos: { x: number; y: number; w: number; h: number };
  readonly targets?: Target[];
}

/** PromQL words that are not metric names: aggregations, functions, keywords. */
const PROMQL_WORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'topk',
  'bottomk',
  'quantile',
  'stddev',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'rate',
  'irate',
  'increase',
  'delta',
  'deriv',
  'histogram_quantile',
  'clamp_min',
  'clamp_max',
  'abs',
  'vector',
  'scalar',
  'time',
]);

/** The metric names a PromQL expression selects (label matchers, groupings, ranges and strings removed). */
function metricNamesOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const words = bare.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return [...new Set(words.filter((word) => !PROMQL_WORDS.has(word)))];
}

let env: TestWorkflowEnvironment;
let h: Harness;
let receiver: TestReceiver;
let serverMetricsPort: number;

beforeAll(async () => {
  // The SDK's worker metrics (appended to /metrics) and the server's own, as compose has them.
  const sdkPort = await freePort();
  installSdkLogging(createLogger('silent'), { metricsPort: sdkPort });
  serverMetricsPort = await freePort();
  env = await createTestTemporal({ metricsPort: serverMetricsPort });
  h = await startHarness({ env, attemptTimeoutMs: 1_000, sdkMetricsUrl: sdkMetricsUrl(sdkPort) });
  receiver = await TestReceiver.start(sequence({ status: 503 }, { status: 200 }));
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await h?.close();
  await env?.teardown();
});

function dashboard(): { uid: string; title: string; panels: Panel[] } {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8'));
}

test('the dashboard parses, every panel queries the provisioned Prometheus, and the panels fit the grid', () => {
  const { uid, title, panels } = dashboard();
  expect({ uid, title }).toEqual({ uid: 'webhook-delivery', title: 'Webhook delivery' });
  const provisioned = readFileSync(
    path.join(ROOT, 'observability/grafana/provisioning/datasources/prometheus.yml'),
    'utf8',
  );
  expect(provisioned).toMatch(/^\s+uid: prometheus$/m);

  const charts = panels.filter((panel) => panel.type !== 'row');
  expect(charts.length).toBeGreaterThanOrEqual(20);
  expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
  for (const panel of charts) {
    expect({ title: panel.title, datasource: panel.datasource?.uid }).toEqual({
      title: panel.title,
      datasource: 'prometheus',
    });
    expect(panel.targets?.length ?? 0).toBeGreaterThan(0);
    for (const target of panel.targets ?? []) expect(target.expr.trim()).not.toBe('');
    expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
  }
  // What the issue asks to see: deliveries by outcome, attempt classes, latency percentiles,
  // backlog, worker slots, Temporal schedule-to-start.
  const exprs = charts.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr)).join('\n');
  for (const needed of [
    'sum by (outcome) (rate(webhook_deliveries_ended_total',
    'sum by (class) (rate(webhook_attempts_total',
    'histogram_quantile(0.99, sum by (le) (rate(webhook_delivery_latency_seconds_bucket',
    'webhook_outbox_backlog_events',
    'temporal_worker_task_slots_used',
    'temporal_workflow_task_schedule_to_start_latency_seconds_bucket',
    'task_schedule_to_start_latency_bucket',
  ]) {
    expect(exprs).toContain(needed);
  }
});

test('the scrape jobs the dashboard filters on are the ones Prometheus is configured with, on the ports compose gives', () => {
  const prometheus = readFileSync(path.join(ROOT, 'observability/prometheus/prometheus.yml'), 'utf8');
  const compose = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
  const jobs = [...prometheus.matchAll(/job_name: (\S+)/g)].map((match) => match[1]);
  expect(jobs).toEqual(['webhook-api', 'webhook-worker', 'temporal-server']);
  const exprs = dashboard().panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
  for (const [, job] of exprs.join('\n').matchAll(/job=~?"([^"]+)"/g)) {
    expect({ job, configured: jobs.some((name) => new RegExp(`^(?:${job})$`).test(name ?? '')) }).toEqual({
      job,
      configured: true,
    });
  }
  expect(prometheus).toContain('port: 3000');
  expect(compose).toContain("PORT: '3000'");
  expect(prometheus).toContain('port: 3001');
  expect(compose).toContain("METRICS_PORT: '3001'");
  expect(prometheus).toContain("targets: ['temporal:8000']");
  expect(compose).toContain('PROMETHEUS_ENDPOINT: 0.0.0.0:8000');
});

test('every metric the dashboard queries is one the service, the Temporal SDK or the Temporal server exports', async () => {
  expect((await h.call('POST', '/v1/event-types', { id: 'order.created' })).status).toBe(201);
  const sub = await h.call('POST', '/v1/subscriptions', {
    url: receiver.url,
    eventTypes: ['order.created'],
    retryPolicy: FAST_RETRY,
  });
  expect(sub.status).toBe(201);
  const event = await h.call('POST', '/v1/events', { type: 'order.created', data: {} });
  expect(event.status).toBe(202);

  const names = (exposition: Exposition): Set<string> =>
    new Set([...exposition.types.keys(), ...exposition.samples.map((sample) => sample.name)]);
  const serverUrl = `http://127.0.0.1:${serverMetricsPort}/metrics`;
  // The retry's activity task goes through matching: the server's schedule-to-start appears then.
  const exported = await waitFor(async () => {
    const [service, server] = await Promise.all([scrape(`${h.api.url}/metrics`), scrape(serverUrl)]);
    const all = new Set([...names(service), ...names(server)]);
    return all.has('temporal_workflow_completed_total') && all.has('task_schedule_to_start_latency_bucket')
      ? all
      : undefined;
  }, 'the delivery to complete and its metrics to be exported');

  const queried = dashboard().panels.flatMap((panel) =>
    (panel.targets ?? []).flatMap((target) =>
      metricNamesOf(target.expr).map((metric) => ({ panel: panel.title, metric })),
    ),
  );
  expect(queried.length).toBeGreaterThan(30);
  expect(queried.filter(({ metric }) => !exported.has(metric))).toEqual([]);
});

test('metricNamesOf reads the metric names of a PromQL expression, nothing else', () => {
  expect(
    metricNamesOf(
      'histogram_quantile(0.99, sum by (le, class) (rate(webhook_attempt_duration_seconds_bucket{class!="2xx", job=~"a.*"}[$__rate_interval])))',
    ),
  ).toEqual(['webhook_attempt_duration_seconds_bucket']);
  expect(metricNamesOf('1 - sum(rate(a_total{x="y"}[5m])) / sum(rate(b_total[5m])) + max(c)')).toEqual([
    'a_total',
    'b_total',
    'c',
  ]);
});
