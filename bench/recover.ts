/**
 * The recover scenario (issue 16): in a service and Temporal server of its own, `deliveries`
 * events are delivered to a healthy subscription (the plain delivery throughput of this run),
 * then as many to a subscription whose receiver answers 500, with one attempt each, so they all
 * fail; the receiver is fixed and one `POST /v1/subscriptions/:id/recover` resends them. Reports
 * deliveries resent per second (the operation's start to its end), the rate they arrived at, the
 * plain throughput beside them, and what was lost or arrived twice.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachLimited } from '../src/util/concurrency';
import { startEnv, type BenchEnv, type EnvOptions } from './env';
import { cpuMsPer, createSubscription, eventData } from './scenarios';

const TYPES = { plain: 'bench.recover.plain', failing: 'bench.recover.failing' } as const;
/** Events posted at once. */
const PUBLISH_CONCURRENCY = 16;

export interface RecoverSizes {
  /** Deliveries delivered plainly, then failed and recovered. */
  readonly deliveries: number;
  /** How long each phase may take, ms. */
  readonly deadlineMs: number;
}

export const RECOVER_SIZES: Record<'quick' | 'full', RecoverSizes> = {
  quick: { deliveries: 200, deadlineMs: 60_000 },
  full: { deliveries: 10_000, deadlineMs: 900_000 },
};

export interface RecoverResult {
  readonly deliveries: number;
  /** Plain deliveries per second: the first event's POST to the last arrival. */
  readonly plainPerSecond: number;
  /** Deliveries resent per second: the operation's startedAt to its finishedAt. */
  readonly resentPerSecond: number;
  /** Resent deliveries arrived per second: the recover call to the last arrival. */
  readonly arrivedPerSecond: number;
  readonly operationStatus: string;
  readonly resent: number;
  readonly arrived: number;
  readonly lost: number;
  readonly duplicates: number;
  /** CPU per resent delivery while the recover ran, ms: the service's and the Temporal server's. */
  readonly serviceCpuMsPerResend: number;
  readonly temporalCpuMsPerResend: number;
}

/** Resolves with the time the `count`-th distinct webhook-id arrived under `prefix` with `status`, or NaN at the deadline. */
function arrivals(env: BenchEnv, prefix: string, status: number, count: number, deadlineMs: number) {
  const seen = new Map<string, number>();
  let resolve: (at: number) => void = () => undefined;
  const all = new Promise<number>((done) => (resolve = done));
  const stop = env.receiver.onArrival((arrival) => {
    if (!arrival.path.startsWith(prefix) || arrival.status !== status) return;
    seen.set(arrival.webhookId, (seen.get(arrival.webhookId) ?? 0) + 1);
    if (seen.size === count) resolve(arrival.at);
  });
  const timer = setTimeout(() => resolve(Number.NaN), deadlineMs);
  return {
    seen,
    done: all.finally(() => clearTimeout(timer)),
    stop: () => {
      stop();
      clearTimeout(timer);
    },
  };
}

async function publish(env: BenchEnv, type: string, count: number): Promise<void> {
  await forEachLimited(
    Array.from({ length: count }, (_, i) => i),
    PUBLISH_CONCURRENCY,
    async () => {
      const answer = await env.api('POST', '/v1/events', { type, data: eventData('recover') });
      if (answer.status !== 202) throw new Error(`POST /v1/events answered ${answer.status}`);
    },
  );
}

async function recoverRun(env: BenchEnv, sizes: RecoverSizes, log: (line: string) => void): Promise<RecoverResult> {
  const { deliveries, deadlineMs } = sizes;
  for (const id of Object.values(TYPES)) {
    const answer = await env.api('POST', '/v1/event-types', { id, description: 'benchmark' });
    if (answer.status !== 201 && answer.status !== 409)
      throw new Error(`POST /v1/event-types answered ${answer.status}`);
  }
  const base = env.receiver.baseUrl;
  await createSubscription(env, { url: `${base}/recover-plain/0`, eventTypes: [TYPES.plain] });
  const failing = await createSubscription(env, {
    url: `${base}/recover-failing/0`,
    eventTypes: [TYPES.failing],
    retryPolicy: { maximumAttempts: 1 },
  });

  const plain = arrivals(env, '/recover-plain/', 200, deliveries, deadlineMs);
  const plainFrom = performance.now();
  await publish(env, TYPES.plain, deliveries);
  const plainTo = await plain.done;
  plain.stop();
  log(`   plain: ${deliveries} delivered in ${((plainTo - plainFrom) / 1000).toFixed(1)} s`);

  env.receiver.fail('/recover-failing/');
  const failed = arrivals(env, '/recover-failing/', 500, deliveries, deadlineMs);
  await publish(env, TYPES.failing, deliveries);
  await failed.done;
  failed.stop();
  // Every delivery's failure recorded before the recover counts them.
  const failedBy = performance.now() + deadlineMs;
  while (performance.now() < failedBy) {
    const listed = await env.api('GET', `/v1/deliveries?subscriptionId=${failing}&status=pending&limit=1`);
    if ((listed.body as { data: unknown[] }).data.length === 0) break;
    await sleep(500);
  }
  env.receiver.recover('/recover-failing/');

  const resent = arrivals(env, '/recover-failing/', 200, deliveries, deadlineMs);
  env.sampler.start();
  try {
    return await measureRecover(
      env,
      failing,
      { ...sizes, plainPerSecond: (deliveries * 1000) / (plainTo - plainFrom) },
      resent,
    );
  } finally {
    resent.stop();
    await env.sampler.stop();
  }
}

/** The recover call, and what it resent: the sampler runs, the fixed receiver counts arrivals. */
async function measureRecover(
  env: BenchEnv,
  failing: string,
  sizes: RecoverSizes & { readonly plainPerSecond: number },
  resent: ReturnType<typeof arrivals>,
): Promise<RecoverResult> {
  const { deliveries, deadlineMs } = sizes;
  const recoverFrom = performance.now();
  const started = await env.api('POST', `/v1/subscriptions/${failing}/recover`, { since: '2000-01-01T00:00:00Z' });
  if (started.status !== 202) throw new Error(`recover answered ${started.status}: ${JSON.stringify(started.body)}`);
  const operationId = (started.body as { id: string }).id;
  let operation: { status: string; done: number; startedAt: string; finishedAt: string | null } | undefined;
  while (performance.now() - recoverFrom < deadlineMs) {
    operation = (await env.api('GET', `/v1/operations/${operationId}`)).body as typeof operation;
    if (operation?.status !== 'running') break;
    await sleep(250);
  }
  const arrivedAt = await resent.done;
  // Late duplicates would arrive now.
  await sleep(2_000);
  const samples = await env.sampler.stop();
  const done = operation?.done ?? 0;
  const finishedAt = operation?.finishedAt ?? undefined;
  const operationMs =
    operation !== undefined && finishedAt !== undefined
      ? Date.parse(finishedAt) - Date.parse(operation.startedAt)
      : Number.NaN;
  return {
    deliveries,
    plainPerSecond: sizes.plainPerSecond,
    resentPerSecond: (done * 1000) / operationMs,
    arrivedPerSecond: (resent.seen.size * 1000) / (arrivedAt - recoverFrom),
    operationStatus: operation?.status ?? 'unknown',
    resent: done,
    arrived: resent.seen.size,
    lost: deliveries - resent.seen.size,
    duplicates: [...resent.seen.values()].filter((count) => count > 1).length,
    serviceCpuMsPerResend: cpuMsPer(samples, 'serviceCpu', done),
    temporalCpuMsPerResend: cpuMsPer(samples, 'temporalCpu', done),
  };
}

/** 9. Recover: bench/recover.ts's scenario in a service and Temporal server of its own. */
export async function recoverScenario(
  options: EnvOptions,
  profile: 'quick' | 'full',
  logBase: string,
): Promise<RecoverResult> {
  const sizes = RECOVER_SIZES[profile];
  options.log(`9. recover: ${sizes.deliveries} delivered, then failed and recovered by one call`);
  const env = await startEnv({
    ...options,
    ceiling: false,
    logFile: `${logBase}-recover-service.log`,
    temporalLogFile: `${logBase}-recover-temporal.log`,
  });
  try {
    return await recoverRun(env, sizes, options.log);
  } finally {
    await env.close();
  }
}

export function formatRecover(result: RecoverResult): string {
  const fixed = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');
  return [
    `Recover of ${result.deliveries} failed deliveries (one call; operation ${result.operationStatus})`,
    `  plain delivery throughput (same run):  ${fixed(result.plainPerSecond)}/s`,
    `  resent (operation start to end):       ${fixed(result.resentPerSecond)}/s (${result.resent} resent)`,
    `  arrived (recover call to last):         ${fixed(result.arrivedPerSecond)}/s (${result.arrived} arrived, ${result.lost} lost, ${result.duplicates} twice)`,
    `  CPU per resend: service ${result.serviceCpuMsPerResend.toFixed(2)} ms, Temporal ${result.temporalCpuMsPerResend.toFixed(2)} ms`,
  ].join('\n');
}
