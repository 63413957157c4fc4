/**
 * The six scenarios. Each returns plain data; report.ts prints and charts it.
 *   1. raw HTTP ceiling      2. Temporal ceiling      3. our sustained throughput
 *   4. latency at a fixed rate (raw, Temporal, ours)  5. fan-out  6. retry storm and recovery
 * (7, the burst, is in burst.ts.)
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttpAgent, postWebhookRequest } from '../activities/http';
import { webhookBody } from '../activities/post-webhook';
import { deliveryWorkflowId } from '../core/workflow-ids';
import { forEachLimited } from '../src/util/concurrency';
import type { BenchEnv } from './env';
import { closedLoop, openLoop, Waiters, type ClosedLoopResult, type OpenLoopResult } from './load';
import type { CeilingClosedResult, CeilingOpenResult } from './protocol';
import type { Sample, Sampler } from './sampler';
import type { ServiceProcess } from './service-client';
import { distribution, perBucket, rateBetween, type Distribution } from './stats';

/** A unit (one delivery) slower than this counts as missing. */
const UNIT_TIMEOUT_MS = 30_000;

export const EVENT_TYPES = { steady: 'bench.steady', storm: 'bench.storm', burst: 'bench.burst' } as const;

/** The event type of the fan-out to `n` subscribers. */
function fanOutEventType(n: number): string {
  return `bench.fanout.${n}`;
}

/** A realistic ~1 KB payload; the marker lets the history check find any copy of it. */
export function eventData(marker: string): Record<string, unknown> {
  return {
    marker,
    order: { id: 'ord_8f2c1e', total: 129.95, currency: 'EUR', placedAt: '2025-01-01T12:00:00Z' },
    customer: { id: 'cus_1234', name: 'Ada Lovelace', email: 'ada@example.com', tier: 'gold' },
    items: Array.from({ length: 8 }, (_, i) => ({
      sku: `SKU-${1000 + i}`,
      name: `Item number ${i}`,
      quantity: i + 1,
      price: 9.99 + i,
    })),
    shipping: {
      method: 'express',
      address: { line1: '1 Analytical Way', city: 'London', postcode: 'N1 1AA', country: 'GB' },
    },
  };
}

export interface ThroughputResult {
  readonly name: string;
  readonly concurrency: number;
  readonly durationMs: number;
  /** Deliveries per second, measured after the warm-up. */
  readonly perSecond: number;
  readonly completed: number;
  readonly errors: number;
  readonly missing: number;
  /** Start → delivered, ms. */
  readonly latency: Distribution;
  /** Deliveries in each second of the run. */
  readonly timeline: number[];
  /** CPU spent per delivery by the service process and by the Temporal server, ms. */
  readonly serviceCpuMsPerDelivery: number;
  readonly temporalCpuMsPerDelivery: number;
  readonly samples: Sample[];
}

export interface LatencyResult {
  readonly name: string;
  readonly rate: number;
  readonly durationMs: number;
  readonly sent: number;
  /** Scheduled send → receiver (or activity), ms. */
  readonly latency: Distribution;
  /** Send → the API's 202, ms (ours only). */
  readonly ack?: Distribution;
  readonly missing: number;
  readonly errors: number;
  /** Every latency sample, ms, for the chart. */
  readonly raw: number[];
}

function warmupMs(durationMs: number): number {
  return Math.min(2_000, Math.floor(durationMs / 5));
}

function throughput(
  name: string,
  concurrency: number,
  result: Pick<ClosedLoopResult, 'completions' | 'latencies' | 'errors' | 'missing' | 'durationMs'>,
  samples: Sample[],
): ThroughputResult {
  return {
    name,
    concurrency,
    durationMs: result.durationMs,
    perSecond: rateBetween(result.completions, warmupMs(result.durationMs), result.durationMs),
    completed: result.completions.length,
    errors: result.errors,
    missing: result.missing,
    latency: distribution(result.latencies),
    timeline: perBucket(result.completions, 1_000, result.durationMs),
    serviceCpuMsPerDelivery: cpuMsPer(samples, 'serviceCpu', result.completions.length),
    temporalCpuMsPerDelivery: cpuMsPer(samples, 'temporalCpu', result.completions.length),
    samples,
  };
}

/** CPU time (cores × sampling intervals) over the samples, divided among `count` deliveries, ms. */
export function cpuMsPer(samples: readonly Sample[], key: 'serviceCpu' | 'temporalCpu', count: number): number {
  let cpuMs = 0;
  let previous = 0;
  for (const sample of samples) {
    cpuMs += (sample[key] ?? 0) * (sample.t - previous);
    previous = sample.t;
  }
  return count > 0 ? cpuMs / count : Number.NaN;
}

function latencyResult(
  name: string,
  rate: number,
  durationMs: number,
  result: Pick<OpenLoopResult, 'latencies' | 'missing' | 'errors'> & { sent?: number; acks?: number[] },
): LatencyResult {
  return {
    name,
    rate,
    durationMs,
    sent: result.sent ?? Math.floor((rate * durationMs) / 1000),
    latency: distribution(result.latencies),
    ...(result.acks ? { ack: distribution(result.acks) } : {}),
    missing: result.missing,
    errors: result.errors,
    raw: result.latencies.map((value) => Math.round(value * 100) / 100),
  };
}

/** Routes the receiver's arrivals under `prefix` to waiters keyed by their webhook id. */
function waitersFor(env: BenchEnv, prefix: string): { waiters: Waiters; stop: () => void } {
  const waiters = new Waiters();
  const stop = env.receiver.onArrival((arrival) => {
    if (arrival.path.startsWith(prefix)) waiters.arrive(arrival.webhookId, arrival.at);
  });
  return { waiters, stop };
}

async function sampled<T>(
  env: BenchEnv,
  fn: () => Promise<T>,
  sampler = env.sampler,
): Promise<{ value: T; samples: Sample[] }> {
  sampler.start();
  try {
    const value = await fn();
    return { value, samples: await sampler.stop() };
  } catch (error) {
    await sampler.stop();
    throw error;
  }
}

/**
 * The raw HTTP path: the project's own request function and keep-alive agent (activities/http.ts),
 * straight to the receiver. `freshConnections`: a new agent, so a new connection, per request:
 * what not sharing a keep-alive agent would cost.
 */
function rawUnit(env: BenchEnv, run: string, waiters: Waiters, freshConnections = false) {
  const agent = createHttpAgent();
  const body = webhookBody({
    id: 'raw',
    type: EVENT_TYPES.steady,
    createdAt: new Date(),
    accountId: null,
    data: eventData('raw'),
  });
  const signal = new AbortController().signal;
  return {
    agent,
    unit: async (n: number): Promise<number | undefined> => {
      const id = `${run}-${n}`;
      const arrived = waiters.waitFor(id, UNIT_TIMEOUT_MS);
      const dispatcher = freshConnections ? createHttpAgent() : agent;
      try {
        await postWebhookRequest(dispatcher, {
          url: `${env.receiver.baseUrl}/raw/${n}`,
          headers: { 'content-type': 'application/json', 'webhook-id': id },
          body,
          timeoutMs: UNIT_TIMEOUT_MS,
          signal,
        });
      } finally {
        if (freshConnections) await dispatcher.close();
      }
      return arrived;
    },
  };
}

/** 1. Raw HTTP ceiling. */
export async function rawThroughput(
  env: BenchEnv,
  concurrency: number,
  durationMs: number,
  freshConnections = false,
): Promise<ThroughputResult> {
  const { waiters, stop } = waitersFor(env, '/raw/');
  const { agent, unit } = rawUnit(env, `raw-${randomUUID()}`, waiters, freshConnections);
  try {
    const { value, samples } = await sampled(env, () => closedLoop({ concurrency, durationMs, unit }));
    return throughput(
      freshConnections ? 'raw HTTP, a connection per request' : 'raw HTTP',
      concurrency,
      value,
      samples,
    );
  } finally {
    stop();
    await agent.close();
  }
}

/** The ceiling's process and sampler; the run starts them whenever a scenario needs them. */
function ceilingOf(env: BenchEnv): { ceiling: ServiceProcess; sampler: Sampler } {
  if (!env.ceiling || !env.ceilingSampler)
    throw new Error('this scenario needs the ceiling process (startEnv ceiling)');
  return { ceiling: env.ceiling, sampler: env.ceilingSampler };
}

/** 2. Temporal ceiling: driven inside the ceiling process, next to its worker. */
export async function temporalThroughput(
  env: BenchEnv,
  concurrency: number,
  durationMs: number,
): Promise<ThroughputResult> {
  const { ceiling, sampler } = ceilingOf(env);
  const { value, samples } = await sampled(
    env,
    () => ceiling.request<CeilingClosedResult>({ type: 'ceiling-closed', concurrency, durationMs }),
    sampler,
  );
  return throughput('Temporal ceiling', concurrency, { ...value, missing: 0, durationMs }, samples);
}

/** Posts one steady event and resolves when the receiver has it. */
function ourUnit(env: BenchEnv, run: string, waiters: Waiters, data: unknown) {
  return async (n: number, ack?: (at: number) => void): Promise<number | undefined> => {
    const id = `${run}-${n}`;
    const arrived = waiters.waitFor(id, UNIT_TIMEOUT_MS);
    const answer = await env.api('POST', '/v1/events', { type: EVENT_TYPES.steady, id, data });
    if (answer.status !== 202) throw new Error(`POST /v1/events answered ${answer.status}`);
    ack?.(performance.now());
    return arrived;
  };
}

/** 3. Our sustained throughput: events with one subscriber each, through the API. */
export async function ourThroughput(env: BenchEnv, concurrency: number, durationMs: number): Promise<ThroughputResult> {
  const { waiters, stop } = waitersFor(env, '/steady/');
  const unit = ourUnit(env, `s-${randomUUID()}`, waiters, eventData('steady'));
  try {
    const { value, samples } = await sampled(env, () => closedLoop({ concurrency, durationMs, unit: (n) => unit(n) }));
    return throughput('ours (API → receiver)', concurrency, value, samples);
  } finally {
    stop();
  }
}

/** 4. Latency at a fixed rate, open loop: raw HTTP, Temporal alone, and ours. */
/**
 * Waits until Temporal has no open workflow left (a rate above the ceiling leaves a queue behind),
 * so that the next measurement starts from an idle server. Returns the wait, ms.
 */
/** Longest wait for Temporal to drain between measurements. */
const IDLE_DEADLINE_MS = 300_000;

/**
 * Workflows still at work. Subscriber workflows (throughput mode) are left out: they stay open,
 * idle, for a minute after their last delivery, and their deliveries are counted at the receiver.
 */
export const OPEN_WORK_QUERY = 'ExecutionStatus = "Running" AND WorkflowType != "subscriberWorkflow"';

export async function untilTemporalIdle(env: BenchEnv, deadlineMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < deadlineMs) {
    const { count } = await env.client.workflow.count(OPEN_WORK_QUERY);
    if (count === 0) break;
    await sleep(250);
  }
  return performance.now() - t0;
}

/** Open-loop latency at `rate`: raw HTTP, then the ceiling, then ours, each from an idle server. */
export async function latencies(env: BenchEnv, rate: number, durationMs: number): Promise<LatencyResult[]> {
  const results: LatencyResult[] = [];
  {
    const { waiters, stop } = waitersFor(env, '/raw/');
    const { agent, unit } = rawUnit(env, `rawl-${randomUUID()}`, waiters);
    try {
      results.push(
        latencyResult('raw HTTP', rate, durationMs, await openLoop({ rate, durationMs, unit: (n) => unit(n) })),
      );
    } finally {
      stop();
      await agent.close();
    }
  }
  await sleep(500);
  results.push(
    latencyResult(
      'Temporal ceiling',
      rate,
      durationMs,
      await ceilingOf(env).ceiling.request<CeilingOpenResult>({ type: 'ceiling-open', rate, durationMs }),
    ),
  );
  await untilTemporalIdle(env, IDLE_DEADLINE_MS);
  {
    const { waiters, stop } = waitersFor(env, '/steady/');
    const unit = ourUnit(env, `l-${randomUUID()}`, waiters, eventData('latency'));
    try {
      results.push(
        latencyResult(
          'ours (API → receiver)',
          rate,
          durationMs,
          await openLoop({ rate, durationMs, unit: (n, _at, ack) => unit(n, ack) }),
        ),
      );
    } finally {
      stop();
    }
  }
  await untilTemporalIdle(env, IDLE_DEADLINE_MS);
  return results;
}

export interface Subscriptions {
  /** Subscription ids by receiver path index. */
  readonly fanout: string[];
  readonly storm: string[];
  /** The one subscriber of the burst's events (burst.ts). */
  readonly burst: string;
}

export async function createSubscription(env: BenchEnv, body: Record<string, unknown>): Promise<string> {
  for (let attempt = 1; ; attempt += 1) {
    const answer = await env.api('POST', '/v1/subscriptions', body);
    if (answer.status === 201) return (answer.body as { id: string }).id;
    if (attempt >= 5)
      throw new Error(`POST /v1/subscriptions answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    await sleep(200 * attempt);
  }
}

/**
 * Event types and subscriptions, through the API: one steady subscriber, one burst subscriber,
 * fan-out subscribers (the i-th receives the fan-out event of every size above i) and `storm`
 * subscribers with a long first backoff.
 */
export async function setUp(
  env: BenchEnv,
  sizes: { fanOut: readonly number[]; storm: number },
): Promise<Subscriptions> {
  for (const id of [...Object.values(EVENT_TYPES), ...sizes.fanOut.map(fanOutEventType)]) {
    const answer = await env.api('POST', '/v1/event-types', { id, description: 'benchmark' });
    if (answer.status !== 201 && answer.status !== 409)
      throw new Error(`POST /v1/event-types answered ${answer.status}`);
  }
  const base = env.receiver.baseUrl;
  await createSubscription(env, { url: `${base}/steady/0`, eventTypes: [EVENT_TYPES.steady] });
  const burst = await createSubscription(env, { url: `${base}/burst/0`, eventTypes: [EVENT_TYPES.burst] });
  const fanOutSubscribers = Math.max(0, ...sizes.fanOut);
  const fanout = new Array<string>(fanOutSubscribers);
  await forEachLimited(
    Array.from({ length: fanOutSubscribers }, (_, i) => i),
    8,
    async (i) => {
      fanout[i] = await createSubscription(env, {
        url: `${base}/fanout/${i}`,
        eventTypes: sizes.fanOut.filter((n) => i < n).map(fanOutEventType),
      });
    },
  );
  const storm = new Array<string>(sizes.storm);
  await forEachLimited(
    Array.from({ length: sizes.storm }, (_, i) => i),
    8,
    async (i) => {
      storm[i] = await createSubscription(env, {
        url: `${base}/storm/${i}`,
        eventTypes: [EVENT_TYPES.storm],
        // Nothing retries on its own while the storm is measured (the full storm takes ~17 min),
        // so each delivery is posted after the recovery by its resend alone; a retry of its own
        // before its resend call would make that resend a second delivery.
        retryPolicy: { initialInterval: '1h' },
      });
    },
  );
  return { fanout, storm, burst };
}

export interface HistoryCheck {
  readonly workflowId: string;
  readonly events: number;
  /** Size of the whole history, serialized, bytes. */
  readonly bytes: number;
  /** True when the event's payload (its marker) appears anywhere in the history. */
  readonly payloadCopied: boolean;
}

async function checkHistory(env: BenchEnv, workflowId: string, marker: string): Promise<HistoryCheck> {
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const text = JSON.stringify(history, (_key, value: unknown) =>
    value instanceof Uint8Array ? Buffer.from(value).toString('utf8') : value,
  );
  return {
    workflowId,
    events: history.events?.length ?? 0,
    bytes: Buffer.byteLength(text),
    payloadCopied: text.includes(marker),
  };
}

export interface FanOutResult {
  readonly subscribers: number;
  /** POST /v1/events → 202, ms. */
  readonly acceptMs: number;
  readonly deliveryCount: number;
  /** POST → first and last subscriber's request, ms. */
  readonly firstMs: number;
  readonly lastMs: number;
  readonly delivered: number;
  readonly complete: boolean;
  /** Subscribers whose request arrived more than once (counted until FANOUT_LATE_MS after the last first arrival). */
  readonly duplicates: number;
  /** Arrival times, ms after the POST (for the chart). */
  readonly arrivals: number[];
  readonly histories: HistoryCheck[];
  readonly samples: Sample[];
}

/** After every subscriber has its request, how long the fan-out scenario waits for late duplicates, ms. */
const FANOUT_LATE_MS = 2_000;

/** 5. One event to `n` subscribers: the API's answer time and the time until the last one has it. */
export async function fanOut(
  env: BenchEnv,
  subscriptions: Subscriptions,
  n: number,
  deadlineMs: number,
): Promise<FanOutResult> {
  const type = fanOutEventType(n);
  const id = `fan-${n}-${randomUUID()}`;
  const marker = `payload-marker-${randomUUID()}`;
  const seen = new Set<string>();
  const arrivals: number[] = [];
  let duplicates = 0;
  let t0 = 0;
  let allIn: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    allIn = resolve;
  });
  const stop = env.receiver.onArrival((arrival) => {
    if (arrival.webhookId !== id || !arrival.path.startsWith('/fanout/')) return;
    if (seen.has(arrival.path)) {
      duplicates += 1;
      return;
    }
    arrivals.push(arrival.at - t0);
    seen.add(arrival.path);
    if (seen.size >= n) allIn();
  });
  env.sampler.start();
  try {
    t0 = performance.now();
    const answer = await env.api('POST', '/v1/events', { type, id, data: eventData(marker) });
    const acceptMs = performance.now() - t0;
    if (answer.status !== 202)
      throw new Error(`POST /v1/events answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    const deliveryCount = (answer.body as { deliveryCount: number }).deliveryCount;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)))]);
    clearTimeout(timer);
    // Late duplicates would arrive now.
    if (seen.size >= n) await new Promise((resolve) => setTimeout(resolve, FANOUT_LATE_MS));
    const samples = await env.sampler.stop();
    const sorted = [...arrivals].sort((a, b) => a - b);
    // Histories of three delivered subscribers: the first, the middle and the last to arrive.
    const delivered = [...seen].map((p) => Number(p.split('/')[2]));
    const sample = [
      ...new Set([delivered[0], delivered[Math.floor(delivered.length / 2)], delivered[delivered.length - 1]]),
    ].filter((i): i is number => i !== undefined);
    const histories: HistoryCheck[] = [];
    for (const i of sample) {
      const workflowId = deliveryWorkflowId(id, subscriptions.fanout[i] as string);
      histories.push(
        await checkHistory(env, workflowId, marker).catch(() => ({
          workflowId,
          events: Number.NaN,
          bytes: Number.NaN,
          payloadCopied: false,
        })),
      );
    }
    return {
      subscribers: n,
      acceptMs,
      deliveryCount,
      firstMs: sorted[0] ?? Number.NaN,
      lastMs: seen.size >= n ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
      delivered: seen.size,
      complete: seen.size >= n,
      duplicates,
      arrivals: sorted.map((value) => Math.round(value)),
      histories,
      samples,
    };
  } finally {
    stop();
    await env.sampler.stop();
  }
}

export interface StormResult {
  readonly deliveries: number;
  readonly events: number;
  readonly subscribersPerEvent: number;
  /** First POST → every delivery's first (failed) attempt seen, ms. */
  readonly firstAttemptsMs: number;
  readonly firstAttemptsComplete: boolean;
  /** Deliveries whose first attempt was still not recorded when the receiver recovered (0 unless a deadline passed). */
  readonly notYetAttempted: number;
  /** While they wait to retry. */
  readonly waiting: {
    durationMs: number;
    serviceRssMbMax: number;
    serviceCpuMean: number;
    temporalCpuMean: number;
    temporalRssMbMax: number;
  };
  /** Receiver recovered → every delivery has a 2xx, ms; includes listing and resending through the API. */
  readonly drainMs: number;
  /** Time the resend calls took, ms, and how many answered 202. */
  readonly resendCallsMs: number;
  readonly resendAccepted: number;
  readonly resendFailed: number;
  readonly delivered: number;
  /** Not delivered by the deadline. */
  readonly lost: number;
  /** Deliveries the receiver answered 2xx more than once. */
  readonly duplicates: number;
  /** The store agrees: deliveries recorded as succeeded. */
  readonly recordedSucceeded: number;
  readonly samples: Sample[];
}

/** The pending deliveries of these events, with how many attempts each has made, through the API. */
async function listPending(
  env: BenchEnv,
  eventIds: readonly string[],
): Promise<Array<{ id: string; attemptCount: number }>> {
  const pending: Array<{ id: string; attemptCount: number }> = [];
  for (const id of eventIds) {
    let cursor: string | null = null;
    do {
      const query: string = `/v1/deliveries?eventId=${encodeURIComponent(id)}&status=pending&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const answer = await env.api('GET', query);
      if (answer.status !== 200) throw new Error(`GET /v1/deliveries answered ${answer.status}`);
      const page = answer.body as { data: Array<{ id: string; attemptCount: number }>; nextCursor: string | null };
      pending.push(...page.data.map((delivery) => ({ id: delivery.id, attemptCount: delivery.attemptCount })));
      cursor = page.nextCursor;
    } while (cursor);
  }
  return pending;
}

function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
}

/**
 * 6. Retry storm: `events` events to `subscriptions.storm` subscribers whose receiver answers 500;
 * measure the service while all of them wait to retry; then the receiver recovers and each
 * delivery is resent through the API. Nothing may be lost or delivered twice.
 */
export async function retryStorm(
  env: BenchEnv,
  subscriptions: Subscriptions,
  events: number,
  waitMs: number,
  deadlineMs: number,
): Promise<StormResult> {
  const run = randomUUID().slice(0, 8);
  const ids = Array.from({ length: events }, (_, i) => `storm-${run}-${i}`);
  const idSet = new Set(ids);
  const total = events * subscriptions.storm.length;
  const failedFirst = new Set<string>();
  const succeeded = new Map<string, number>();
  const signals = { failedAll: () => undefined as void, succeededAll: () => undefined as void };
  const failedAll = new Promise<void>((resolve) => (signals.failedAll = resolve));
  const succeededAll = new Promise<void>((resolve) => (signals.succeededAll = resolve));
  const stop = env.receiver.onArrival((arrival) => {
    if (!idSet.has(arrival.webhookId)) return;
    const key = `${arrival.webhookId} ${arrival.path}`;
    if (arrival.status >= 500) {
      failedFirst.add(key);
      if (failedFirst.size >= total) signals.failedAll();
    } else {
      succeeded.set(key, (succeeded.get(key) ?? 0) + 1);
      if (succeeded.size >= total) signals.succeededAll();
    }
  });
  const within = async (promise: Promise<void>, ms: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      promise.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    ]);
    clearTimeout(timer);
    return ok;
  };
  env.receiver.fail('/storm/');
  env.sampler.start();
  try {
    const t0 = performance.now();
    await forEachLimited(ids, 4, async (id) => {
      const answer = await env.api('POST', '/v1/events', { type: EVENT_TYPES.storm, id, data: eventData('storm') });
      if (answer.status !== 202) throw new Error(`POST /v1/events answered ${answer.status}`);
    });
    const firstAttemptsComplete = await within(failedAll, deadlineMs);
    const firstAttemptsMs = performance.now() - t0;
    // Every first attempt recorded, so that none is in flight when the receiver recovers: each
    // delivery now waits out its backoff (an hour).
    const recordedBy = performance.now() + deadlineMs;
    let listed = await listPending(env, ids);
    while (listed.some((delivery) => delivery.attemptCount === 0) && performance.now() < recordedBy) {
      await sleep(1_000);
      listed = await listPending(env, ids);
    }
    const notYetAttempted = listed.filter((delivery) => delivery.attemptCount === 0).length;
    const waitFrom = performance.now() - t0;
    await sleep(waitMs);
    const waitTo = performance.now() - t0;

    env.receiver.recover('/storm/');
    const t1 = performance.now();
    // Those never attempted yet need no resend: their first attempt now succeeds.
    const pending = (await listPending(env, ids))
      .filter((delivery) => delivery.attemptCount > 0)
      .map((delivery) => delivery.id);
    let resendAccepted = 0;
    let resendFailed = 0;
    await forEachLimited(pending, 16, async (deliveryId) => {
      const answer = await env.api('POST', `/v1/deliveries/${deliveryId}/resend`);
      if (answer.status === 202 || answer.status === 200) resendAccepted += 1;
      else resendFailed += 1;
    });
    const resendCallsMs = performance.now() - t1;
    await within(succeededAll, deadlineMs);
    const drainMs = performance.now() - t1;
    // Late duplicates would arrive now.
    await sleep(2_000);
    const samples = await env.sampler.stop();
    let recordedSucceeded = 0;
    for (const id of ids) {
      const answer = await env.api('GET', `/v1/events/${encodeURIComponent(id)}`);
      recordedSucceeded += (answer.body as { deliveries?: { succeeded?: number } }).deliveries?.succeeded ?? 0;
    }
    const waiting = samples.filter((sample) => sample.t >= waitFrom && sample.t <= waitTo);
    return {
      deliveries: total,
      events,
      subscribersPerEvent: subscriptions.storm.length,
      firstAttemptsMs,
      firstAttemptsComplete,
      notYetAttempted,
      waiting: {
        durationMs: waitMs,
        serviceRssMbMax: Math.max(...waiting.map((s) => s.serviceRssMb)),
        serviceCpuMean: mean(waiting.map((s) => s.serviceCpu)),
        temporalCpuMean: mean(waiting.map((s) => s.temporalCpu ?? Number.NaN)),
        temporalRssMbMax: Math.max(...waiting.map((s) => s.temporalRssMb ?? Number.NaN)),
      },
      drainMs,
      resendCallsMs,
      resendAccepted,
      resendFailed,
      delivered: succeeded.size,
      lost: total - succeeded.size,
      duplicates: [...succeeded.values()].filter((count) => count > 1).length,
      recordedSucceeded,
      samples,
    };
  } finally {
    stop();
    env.receiver.recover('/storm/');
    await env.sampler.stop();
  }
}
