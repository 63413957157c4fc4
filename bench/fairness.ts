/**
 * The fairness scenario: account A posts one event to `subscribers` subscriptions of its own, then
 * account B posts one event to its one subscription; B's accept → receipt latency while A's
 * backlog drains, with WEBHOOKS_FAIRNESS off and on, each in a fresh service and Temporal server
 * of the same run. The run with fairness on then measures throttling: a subscription throttled to
 * `throttleRate`/s takes `throttleEvents` events posted at once; the rate its receiver sees, the
 * busiest second, and the CPU per delivery (service and Temporal server).
 */
import { performance } from 'node:perf_hooks';
import { forEachLimited } from '../src/util/concurrency';
import type { BenchEnv } from './env';
import { cpuMsPer, createSubscription } from './scenarios';

const TYPES = { a: 'bench.fair.a', b: 'bench.fair.b', throttled: 'bench.throttled' } as const;
/** Subscriptions created at once through the API. */
const SETUP_CONCURRENCY = 16;

export interface FairnessSizes {
  /** Account A's subscribers. */
  readonly subscribers: number;
  /** How long A's backlog may take to drain, ms. */
  readonly deadlineMs: number;
  /** Deliveries per second of the throttled subscription. */
  readonly throttleRate: number;
  /** Events posted at once to the throttled subscription. */
  readonly throttleEvents: number;
}

export interface FairnessRun {
  readonly fairness: boolean;
  /** B's POST → B's receiver has it, ms; NaN when it did not arrive by the deadline. */
  readonly bLatencyMs: number;
  /** A's deliveries that had arrived when B's did. */
  readonly aDeliveredBeforeB: number;
  /** A's POST → the last of A's deliveries, ms; NaN when A did not drain by the deadline. */
  readonly aDrainMs: number;
  readonly aDelivered: number;
}

export interface ThrottleAccuracy {
  readonly throttleRate: number;
  readonly deliveries: number;
  /** Deliveries per second the receiver saw, first to last. */
  readonly observedPerSecond: number;
  /** The most deliveries in any one second. */
  readonly busiestSecond: number;
  /** CPU per delivery while they were sent, ms: the service's and the Temporal server's. */
  readonly serviceCpuMsPerDelivery: number;
  readonly temporalCpuMsPerDelivery: number;
}

export interface FairnessResult {
  readonly subscribers: number;
  readonly runs: readonly FairnessRun[];
  readonly throttle?: ThrottleAccuracy;
}

async function registerTypes(env: BenchEnv): Promise<void> {
  for (const id of Object.values(TYPES)) {
    const answer = await env.api('POST', '/v1/event-types', { id, description: 'benchmark' });
    if (answer.status !== 201 && answer.status !== 409)
      throw new Error(`POST /v1/event-types answered ${answer.status}`);
  }
}

async function publish(env: BenchEnv, body: Record<string, unknown>): Promise<string> {
  const answer = await env.api('POST', '/v1/events', { data: { bench: true }, ...body });
  if (answer.status !== 202)
    throw new Error(`POST /v1/events answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return (answer.body as { id: string }).id;
}

/** One run: A's fan-out, then B's single event, in a service with fairness as given. */
export async function fairnessRun(env: BenchEnv, fairness: boolean, sizes: FairnessSizes): Promise<FairnessRun> {
  await registerTypes(env);
  const base = env.receiver.baseUrl;
  await forEachLimited(
    Array.from({ length: sizes.subscribers }, (_, i) => i),
    SETUP_CONCURRENCY,
    async (i) => {
      await createSubscription(env, { url: `${base}/fair-a/${i}`, eventTypes: [TYPES.a], accountId: 'tenant-a' });
    },
  );
  await createSubscription(env, { url: `${base}/fair-b/0`, eventTypes: [TYPES.b], accountId: 'tenant-b' });

  let aDelivered = 0;
  let aLastAt = Number.NaN;
  let bAt = Number.NaN;
  let aDeliveredBeforeB = 0;
  let drained: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (drained = resolve));
  const settle = (): void => {
    if (aDelivered >= sizes.subscribers && !Number.isNaN(bAt)) drained();
  };
  const stop = env.receiver.onArrival((arrival) => {
    if (arrival.path.startsWith('/fair-a/')) {
      aDelivered += 1;
      aLastAt = arrival.at;
    } else if (arrival.path.startsWith('/fair-b/') && Number.isNaN(bAt)) {
      bAt = arrival.at;
      aDeliveredBeforeB = aDelivered;
    }
    settle();
  });
  try {
    const aPostedAt = performance.now();
    await publish(env, { type: TYPES.a, accountId: 'tenant-a' });
    const bPostedAt = performance.now();
    await publish(env, { type: TYPES.b, accountId: 'tenant-b' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, sizes.deadlineMs)))]);
    clearTimeout(timer);
    return {
      fairness,
      bLatencyMs: bAt - bPostedAt,
      aDeliveredBeforeB,
      aDrainMs: aDelivered >= sizes.subscribers ? aLastAt - aPostedAt : Number.NaN,
      aDelivered,
    };
  } finally {
    stop();
  }
}

/** A subscription throttled to `throttleRate`/s takes `throttleEvents` events posted at once. */
export async function throttleAccuracy(env: BenchEnv, sizes: FairnessSizes): Promise<ThrottleAccuracy> {
  await createSubscription(env, {
    url: `${env.receiver.baseUrl}/throttled/0`,
    eventTypes: [TYPES.throttled],
    throttleRate: sizes.throttleRate,
  });
  const arrivals: number[] = [];
  let allIn: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allIn = resolve));
  const stop = env.receiver.onArrival((arrival) => {
    if (!arrival.path.startsWith('/throttled/')) return;
    arrivals.push(arrival.at);
    if (arrivals.length >= sizes.throttleEvents) allIn();
  });
  env.sampler.start();
  try {
    await forEachLimited(
      Array.from({ length: sizes.throttleEvents }, (_, i) => i),
      SETUP_CONCURRENCY,
      async () => {
        await publish(env, { type: TYPES.throttled });
      },
    );
    const expectedMs = (sizes.throttleEvents / sizes.throttleRate) * 1000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2 * expectedMs + 30_000)))]);
    clearTimeout(timer);
    const samples = await env.sampler.stop();
    const sorted = [...arrivals].sort((a, b) => a - b);
    const spanMs = (sorted[sorted.length - 1] ?? 0) - (sorted[0] ?? 0);
    let busiest = 0;
    for (let i = 0, j = 0; i < sorted.length; i += 1) {
      while (j < sorted.length && (sorted[j] as number) < (sorted[i] as number) + 1_000) j += 1;
      busiest = Math.max(busiest, j - i);
    }
    return {
      throttleRate: sizes.throttleRate,
      deliveries: sorted.length,
      observedPerSecond: spanMs > 0 ? ((sorted.length - 1) * 1000) / spanMs : Number.NaN,
      busiestSecond: busiest,
      serviceCpuMsPerDelivery: cpuMsPer(samples, 'serviceCpu', sorted.length),
      temporalCpuMsPerDelivery: cpuMsPer(samples, 'temporalCpu', sorted.length),
    };
  } finally {
    stop();
    await env.sampler.stop();
  }
}

const round = (value: number): string => (Number.isNaN(value) ? 'n/a' : value.toFixed(0));

/** The scenario's lines of the printed report. */
export function formatFairness(result: FairnessResult): string {
  const lines = [`fairness: account A posts one event to ${result.subscribers} subscribers, then B one event to one`];
  for (const run of result.runs) {
    lines.push(
      `  fairness ${run.fairness ? 'on ' : 'off'}: B delivered ${round(run.bLatencyMs)} ms after its POST (A had ${run.aDelivered >= result.subscribers ? run.aDeliveredBeforeB : `${run.aDeliveredBeforeB} of ${run.aDelivered}`} delivered by then); A drained in ${round(run.aDrainMs)} ms (${run.aDelivered}/${result.subscribers})`,
    );
  }
  const throttle = result.throttle;
  if (throttle) {
    lines.push(
      `throttle ${throttle.throttleRate}/s: ${throttle.deliveries} deliveries at ${throttle.observedPerSecond.toFixed(2)}/s, busiest second ${throttle.busiestSecond}; CPU per delivery ${throttle.serviceCpuMsPerDelivery.toFixed(1)} ms service + ${throttle.temporalCpuMsPerDelivery.toFixed(1)} ms Temporal`,
    );
  }
  return lines.join('\n');
}
