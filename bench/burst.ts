/**
 * 7. Burst: producers shaped like a real publisher's spike. `producers` loops each POST an event
 * (one subscriber: the loopback receiver) as soon as the API answered the last, for `durationMs`,
 * without waiting for deliveries; then the drain, until every accepted event has reached the
 * receiver (or the deadline). Measured: how fast the API accepts, how fast deliveries flow during
 * the burst and the drain, the age of the oldest undelivered event over time, the order of the
 * drain, every process's memory, the Temporal server's complaints, deliveries posted twice, what
 * one delivery costs Temporal (history-cost.ts) and the CPU per delivery.
 */
import { open } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { deliveryWorkflowId, subscriberWorkflowId } from '../core/workflow-ids';
import { temporalLogSince, type BenchEnv, type TemporalLogCounts } from './env';
import { readHistoryCost, type HistoryCost } from './history-cost';
import { MemorySampler, type MemoryPeaks } from './memory';
import type { Sample } from './sampler';
import { EVENT_TYPES, eventData, OPEN_WORK_QUERY, untilTemporalIdle } from './scenarios';
import { distribution, round, type Distribution } from './stats';

export interface BurstOptions {
  readonly producers: number;
  readonly durationMs: number;
  /** Longest wait for the drain after the producers stop. */
  readonly drainDeadlineMs: number;
  /** After the drain, how long to keep listening for deliveries posted twice. */
  readonly lateMs: number;
  /** Deliveries/s of our closed-loop throughput in the same run (scenario 3): the steady-state capacity. */
  readonly steadyPerSecond: number | undefined;
}

/** One point of the timeline, every second from the first POST. */
export interface BurstPoint {
  /** s from the first POST. */
  readonly t: number;
  /** Events the API had acknowledged (202) by then. */
  readonly accepted: number;
  /** Of them, how many the receiver had. */
  readonly delivered: number;
  /** now − createdAt of the oldest acknowledged event the receiver had not had, s (0 when none waits). */
  readonly oldestAgeS: number;
  /** Workflows open in Temporal (started, not closed), when the count answered within the second. */
  readonly openWorkflows?: number;
  /**
   * The events created in this second (createdAt in [t, t + 1)): when the receiver had the first,
   * half and the last of them, s from the first POST. Oldest first: these ranges follow each other.
   */
  readonly createdHere?: {
    readonly count: number;
    readonly first: number;
    readonly median: number;
    readonly last: number;
  };
}

export interface BurstResult {
  readonly producers: number;
  readonly durationMs: number;
  /** First POST → the last producer's last answer, ms. */
  readonly burstMs: number;
  readonly accepted: number;
  readonly acceptedPerSecond: number;
  /** Answers other than 202, by status; requests that failed without an answer. */
  readonly refused: Record<string, number>;
  readonly requestErrors: number;
  /** POST → 202, ms. */
  readonly ack: Distribution;
  readonly deliveredInBurst: number;
  readonly burstDeliveriesPerSecond: number;
  readonly deliveredInDrain: number;
  readonly drainDeliveriesPerSecond: number;
  /** Producers stopped → the last accepted event delivered, ms; NaN when the deadline came first. */
  readonly drainMs: number;
  readonly drained: boolean;
  /** Accepted, not delivered by the deadline. */
  readonly undelivered: number;
  readonly steadyPerSecond: number | undefined;
  /** Accepted and not yet delivered, at most (the backlog). */
  readonly maxBacklog: number;
  readonly maxOldestAgeS: number;
  /** createdAt → receiver, ms, every accepted event delivered. */
  readonly latency: Distribution;
  /**
   * The drain's order. For each delivery, by how much the youngest event delivered before it was
   * younger than it, ms (0 when none was: it came in order); oldest first means small overtakes.
   */
  readonly overtake: { readonly p50: number; readonly p99: number; readonly max: number; readonly over1s: number };
  /** Events delivered more than once (by webhook-id), and the extra posts. */
  readonly deliveredTwice: number;
  readonly extraPosts: number;
  /** Posts for ids the API never acknowledged (a request that failed after the event was stored). */
  readonly unacknowledgedDelivered: number;
  readonly memory: MemoryPeaks;
  /** Lines the Temporal server logged from the first POST to the end of the drain. */
  readonly temporalLog: TemporalLogCounts;
  /** CPU per delivery from the first POST to the end of the drain, ms (service, Temporal). */
  readonly serviceCpuMsPerDelivery: number;
  readonly temporalCpuMsPerDelivery: number;
  readonly serviceCpuMean: number;
  readonly temporalCpuMean: number;
  /** The dispatcher's backpressure, from the service's log lines during the burst. */
  readonly gate: { readonly saturated: number; readonly drainedOutbox: number; readonly startsInFlight: number[] };
  /** Histories of delivered events (first, middle, last delivered), with their costs. */
  readonly costs: HistoryCost[];
  /** Throughput mode: the history of the subscriber workflow's latest run, whose costs its first attempts share. */
  readonly subscriberRun?: HistoryCost | undefined;
  readonly timeline: BurstPoint[];
  readonly samples: Sample[];
}

interface Accepted {
  readonly id: string;
  /** createdAt from the API's answer, ms from the first POST (bench clock). */
  readonly created: number;
  /** The 202, ms from the first POST. */
  readonly ack: number;
}

/** Reads what a log file gained since `from` (bytes). */
async function readFrom(file: string, from: number): Promise<string> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return '';
  try {
    const { size } = await handle.stat();
    if (size <= from) return '';
    const buffer = Buffer.alloc(size - from);
    await handle.read(buffer, 0, buffer.length, from);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}

async function sizeOf(file: string): Promise<number> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return 0;
  try {
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

/** The dispatcher's backpressure lines (src/temporal/dispatcher.ts) in a slice of JSON log. */
function gateLines(text: string): BurstResult['gate'] {
  let saturated = 0;
  let drainedOutbox = 0;
  const startsInFlight: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('new events wait in the outbox') && !line.includes('outbox drained')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; startsInFlight?: number };
      if (entry.msg?.includes('new events wait in the outbox')) {
        saturated += 1;
        if (typeof entry.startsInFlight === 'number') startsInFlight.push(entry.startsInFlight);
      } else if (entry.msg?.includes('outbox drained')) drainedOutbox += 1;
    } catch {
      // not a JSON line
    }
  }
  return { saturated, drainedOutbox, startsInFlight };
}

function cpuMs(samples: readonly Sample[], key: 'serviceCpu' | 'temporalCpu'): number {
  let total = 0;
  let previous = 0;
  for (const sample of samples) {
    total += (sample[key] ?? 0) * (sample.t - previous);
    previous = sample.t;
  }
  return total;
}

function mean(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite);
  return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : Number.NaN;
}

/** The timeline, every second: acknowledged, delivered, the oldest one waiting. */
function timelineOf(
  accepted: readonly Accepted[],
  arrivals: ReadonlyMap<string, number>,
  untilMs: number,
  openWorkflows: ReadonlyMap<number, number>,
): BurstPoint[] {
  const points: BurstPoint[] = [];
  for (let t = 0; t <= untilMs + 999; t += 1_000) {
    let count = 0;
    let delivered = 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (const event of accepted) {
      const at = arrivals.get(event.id);
      const arrived = at !== undefined && at <= t;
      if (event.ack > t && !arrived) continue;
      count += 1;
      if (arrived) delivered += 1;
      else oldest = Math.min(oldest, event.created);
    }
    const open = openWorkflows.get(t / 1_000);
    const here = accepted
      .filter((event) => event.created >= t && event.created < t + 1_000)
      .flatMap((event) => {
        const at = arrivals.get(event.id);
        return at === undefined ? [] : [at];
      })
      .sort((a, b) => a - b);
    points.push({
      t: t / 1_000,
      accepted: count,
      delivered,
      oldestAgeS: Number.isFinite(oldest) ? Math.max(0, (t - oldest) / 1_000) : 0,
      ...(open !== undefined ? { openWorkflows: open } : {}),
      ...(here.length > 0
        ? {
            createdHere: {
              count: here.length,
              first: round((here[0] as number) / 1_000),
              median: round((here[Math.floor(here.length / 2)] as number) / 1_000),
              last: round((here[here.length - 1] as number) / 1_000),
            },
          }
        : {}),
    });
  }
  return points;
}

function overtakes(accepted: readonly Accepted[], arrivals: ReadonlyMap<string, number>): BurstResult['overtake'] {
  const delivered = accepted
    .flatMap((event) => {
      const at = arrivals.get(event.id);
      return at === undefined ? [] : [{ at, created: event.created }];
    })
    .sort((a, b) => a.at - b.at);
  const values: number[] = [];
  let youngest = Number.NEGATIVE_INFINITY;
  for (const event of delivered) {
    values.push(Math.max(0, youngest - event.created));
    youngest = Math.max(youngest, event.created);
  }
  const d = distribution(values);
  return { p50: d.p50, p99: d.p99, max: d.max, over1s: values.filter((v) => v > 1_000).length };
}

export async function burst(env: BenchEnv, subscriptionId: string, options: BurstOptions): Promise<BurstResult> {
  const run = randomUUID().slice(0, 8);
  const data = eventData('burst');
  const accepted: Accepted[] = [];
  const acks: number[] = [];
  const refused: Record<string, number> = {};
  let requestErrors = 0;
  /** First arrival of each webhook-id, ms from the first POST, and how many posts each had. */
  const arrivals = new Map<string, number>();
  const posts = new Map<string, number>();
  let t0 = performance.now();
  const stop = env.receiver.onArrival((arrival) => {
    if (!arrival.path.startsWith('/burst/') || arrival.status !== 200) return;
    posts.set(arrival.webhookId, (posts.get(arrival.webhookId) ?? 0) + 1);
    if (!arrivals.has(arrival.webhookId)) arrivals.set(arrival.webhookId, arrival.at - t0);
  });
  const memory = new MemorySampler(env.processes, env.systemProcessNames);
  const logFiles = [env.logFiles.service, ...(env.logFiles.api ? [env.logFiles.api] : [])];
  const logFrom = await Promise.all(logFiles.map(sizeOf));
  const openWorkflows = new Map<number, number>();
  let counting = true;
  // Workflows open in Temporal, once a second: bounded starts keep it near the gate's bound.
  const countOpenWorkflows = async (): Promise<void> => {
    for (let second = 0; counting && second < 3_600; second += 1) {
      const due = t0 + second * 1_000;
      if (performance.now() < due) await sleep(due - performance.now());
      if (!counting) break;
      const started = performance.now();
      const count = await Promise.race([
        env.client.workflow.count(OPEN_WORK_QUERY).then(
          (answer) => answer.count,
          () => undefined,
        ),
        sleep(900).then(() => undefined),
      ]);
      if (count !== undefined) openWorkflows.set(second, count);
      // A slow answer skips the seconds it took.
      second += Math.floor((performance.now() - started) / 1_000);
    }
  };
  let countOpen = Promise.resolve();
  const logBefore = env.temporalLog();
  env.sampler.start();
  memory.start();
  try {
    t0 = performance.now();
    countOpen = countOpenWorkflows();
    const producer = async (p: number): Promise<void> => {
      for (let n = 0; performance.now() - t0 < options.durationMs; n += 1) {
        const id = `burst-${run}-${p}-${n}`;
        const sentAt = performance.now();
        try {
          const answer = await env.api('POST', '/v1/events', { type: EVENT_TYPES.burst, id, data });
          const at = performance.now();
          if (answer.status === 202) {
            const createdAt = Date.parse((answer.body as { createdAt?: string }).createdAt ?? '');
            const created = Number.isFinite(createdAt) ? createdAt - (performance.timeOrigin + t0) : sentAt - t0;
            accepted.push({ id, created, ack: at - t0 });
            acks.push(at - sentAt);
          } else {
            refused[answer.status] = (refused[answer.status] ?? 0) + 1;
            await sleep(50);
          }
        } catch {
          requestErrors += 1;
          await sleep(50);
        }
      }
    };
    await Promise.all(Array.from({ length: options.producers }, (_, p) => producer(p)));
    const burstMs = performance.now() - t0;

    // The drain: until the receiver has every acknowledged event, or the deadline.
    const ids = accepted.map((event) => event.id);
    const deadline = performance.now() + options.drainDeadlineMs;
    let pending = ids.filter((id) => !arrivals.has(id));
    while (pending.length > 0 && performance.now() < deadline) {
      await sleep(100);
      pending = pending.filter((id) => !arrivals.has(id));
    }
    const drained = pending.length === 0;
    const lastArrival = Math.max(burstMs, ...ids.map((id) => arrivals.get(id) ?? Number.NEGATIVE_INFINITY));
    const endMs = drained ? lastArrival : performance.now() - t0;
    const samples = await env.sampler.stop();
    const memoryPeaks = memory.stop();
    const temporalLog = temporalLogSince(logBefore, env.temporalLog());
    counting = false;
    await countOpen;
    // Posted twice would show now; the workflows of the burst close meanwhile.
    await sleep(options.lateMs);
    if (drained) await untilTemporalIdle(env, 30_000);

    const deliveredAt = ids.flatMap((id) => {
      const at = arrivals.get(id);
      return at === undefined ? [] : [at];
    });
    const inBurst = deliveredAt.filter((at) => at <= burstMs).length;
    const inDrain = deliveredAt.length - inBurst;
    const byId = new Map(accepted.map((event) => [event.id, event]));
    const timeline = timelineOf(accepted, arrivals, endMs, openWorkflows);
    const logText = (await Promise.all(logFiles.map((file, i) => readFrom(file, logFrom[i] ?? 0)))).join('\n');
    const extra = [...posts.values()].filter((count) => count > 1);

    // What one delivery costs: the first, the middle and the last delivered (all answered 2xx at once).
    const inOrder = ids
      .filter((id) => arrivals.has(id) && posts.get(id) === 1)
      .sort((a, b) => (arrivals.get(a) ?? 0) - (arrivals.get(b) ?? 0));
    const sampleIds = [
      ...new Set([inOrder[0], inOrder[Math.floor(inOrder.length / 2)], inOrder[inOrder.length - 1]]),
    ].filter((id): id is string => id !== undefined);
    const costs: HistoryCost[] = [];
    for (const id of sampleIds) {
      const cost = await readHistoryCost(env.client, deliveryWorkflowId(id, subscriptionId)).catch(() => undefined);
      if (cost) costs.push(cost);
    }
    // Throughput mode: no delivery workflow; the subscriber workflow's latest run, shared by its deliveries.
    const subscriberRun =
      costs.length === 0
        ? await readHistoryCost(env.client, subscriberWorkflowId(subscriptionId)).catch(() => undefined)
        : undefined;

    const service = cpuMs(samples, 'serviceCpu');
    const temporal = cpuMs(samples, 'temporalCpu');
    return {
      producers: options.producers,
      durationMs: options.durationMs,
      burstMs,
      accepted: accepted.length,
      acceptedPerSecond: (accepted.length * 1000) / burstMs,
      refused,
      requestErrors,
      ack: distribution(acks),
      deliveredInBurst: inBurst,
      burstDeliveriesPerSecond: (inBurst * 1000) / burstMs,
      deliveredInDrain: inDrain,
      drainDeliveriesPerSecond: endMs > burstMs ? (inDrain * 1000) / (endMs - burstMs) : Number.NaN,
      drainMs: drained ? lastArrival - burstMs : Number.NaN,
      drained,
      undelivered: pending.length,
      steadyPerSecond: options.steadyPerSecond,
      maxBacklog: Math.max(0, ...timeline.map((point) => point.accepted - point.delivered)),
      maxOldestAgeS: Math.max(0, ...timeline.map((point) => point.oldestAgeS)),
      latency: distribution(
        ids.flatMap((id) => {
          const at = arrivals.get(id);
          const event = byId.get(id);
          return at === undefined || !event ? [] : [at - event.created];
        }),
      ),
      overtake: overtakes(accepted, arrivals),
      deliveredTwice: extra.length,
      extraPosts: extra.reduce((sum, count) => sum + count - 1, 0),
      unacknowledgedDelivered: [...arrivals.keys()].filter((id) => id.startsWith(`burst-${run}-`) && !byId.has(id))
        .length,
      memory: memoryPeaks,
      temporalLog,
      serviceCpuMsPerDelivery: deliveredAt.length ? service / deliveredAt.length : Number.NaN,
      temporalCpuMsPerDelivery: deliveredAt.length ? temporal / deliveredAt.length : Number.NaN,
      serviceCpuMean: mean(samples.map((s) => s.serviceCpu)),
      temporalCpuMean: mean(samples.map((s) => s.temporalCpu ?? Number.NaN)),
      gate: gateLines(logText),
      costs,
      subscriberRun,
      timeline,
      samples,
    };
  } finally {
    counting = false;
    stop();
    memory.stop();
    await env.sampler.stop();
    await countOpen;
  }
}
