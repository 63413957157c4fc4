/**
 * `npm run bench -- --observability`: the CPU cost of observability per delivery, in one run.
 * The service's sustained closed loop (scenario 3) is measured with metrics and tracing off, with
 * metrics on (ours and the Temporal SDK's, as `npm start`), and with tracing on (every span
 * exported over OTLP/HTTP protobuf to a collector stand-in on loopback, metrics off), each in a
 * fresh environment, in turn, for a number of rounds; the report compares the service process's
 * CPU per delivery of each with off. The metrics run also times scrapes of GET /metrics.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchEnv, EnvOptions } from './env';
import type { ServiceStats } from './protocol';
import { ourThroughput, setUp } from './scenarios';

export type Observability = 'off' | 'metrics' | 'tracing';
const VARIANTS: readonly Observability[] = ['off', 'metrics', 'tracing'];
/** Scrapes of GET /metrics timed after the metrics run. */
const SCRAPES = 20;

export interface ObservabilityRun {
  readonly variant: Observability;
  readonly round: number;
  readonly perSecond: number;
  readonly completed: number;
  readonly serviceCpuMsPerDelivery: number;
  readonly temporalCpuMsPerDelivery: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  /** Metrics run: the service's CPU per scrape of GET /metrics, and its size. */
  readonly scrape?: { readonly cpuMs: number; readonly bytes: number };
  /** Tracing run: what reached the collector stand-in. */
  readonly exported?: { readonly requests: number; readonly bytes: number };
}

export interface ObservabilitySummary {
  readonly variant: Observability;
  /** Mean over the rounds. */
  readonly serviceCpuMsPerDelivery: number;
  /** Against off, %. */
  readonly overheadPercent: number;
  readonly perSecond: number;
}

export interface ObservabilityResults {
  readonly rounds: number;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly runs: readonly ObservabilityRun[];
  readonly summary: readonly ObservabilitySummary[];
}

/** An OTLP/HTTP collector stand-in on loopback: takes every export, keeps count, answers 200. */
async function startCollector(): Promise<{ url: string; requests: number; bytes: number; close(): Promise<void> }> {
  const state = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (state.bytes += chunk.length));
    req.on('end', () => {
      state.requests += 1;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    get requests() {
      return state.requests;
    },
    get bytes() {
      return state.bytes;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const cpuMsOf = (stats: ServiceStats): number => (stats.cpuUserUs + stats.cpuSystemUs) / 1000;

/** The service's CPU per scrape of its GET /metrics, ms, and the text's size. */
async function scrapeCost(env: BenchEnv): Promise<{ cpuMs: number; bytes: number }> {
  const url = `${env.service.ready.apiUrl ?? ''}/metrics`;
  let bytes = 0;
  const before = await env.service.request<ServiceStats>({ type: 'stats' });
  for (let i = 0; i < SCRAPES; i += 1) bytes = (await (await fetch(url)).text()).length;
  const after = await env.service.request<ServiceStats>({ type: 'stats' });
  return { cpuMs: (cpuMsOf(after) - cpuMsOf(before)) / SCRAPES, bytes };
}

export async function observabilityCost(options: {
  readonly startEnv: (observability: NonNullable<EnvOptions['observability']>) => Promise<BenchEnv>;
  readonly rounds: number;
  readonly concurrency: number;
  readonly warmUpMs: number;
  readonly durationMs: number;
  readonly settleMs: number;
  readonly log: (line: string) => void;
}): Promise<ObservabilityResults> {
  const collector = await startCollector();
  const runs: ObservabilityRun[] = [];
  try {
    for (let round = 1; round <= options.rounds; round += 1) {
      for (const variant of VARIANTS) {
        options.log(`observability ${variant}, round ${round}/${options.rounds}: starting`);
        const env = await options.startEnv({
          observability: variant,
          ...(variant === 'tracing' ? { tracingEndpoint: collector.url } : {}),
        });
        try {
          await setUp(env, { fanOut: [], storm: 0 });
          env.receiver.recording = false;
          await ourThroughput(env, options.concurrency, options.warmUpMs);
          await sleep(options.settleMs);
          const exportedBefore = { requests: collector.requests, bytes: collector.bytes };
          const result = await ourThroughput(env, options.concurrency, options.durationMs);
          const run: ObservabilityRun = {
            variant,
            round,
            perSecond: result.perSecond,
            completed: result.completed,
            serviceCpuMsPerDelivery: result.serviceCpuMsPerDelivery,
            temporalCpuMsPerDelivery: result.temporalCpuMsPerDelivery,
            latencyP50Ms: result.latency.p50,
            latencyP99Ms: result.latency.p99,
            ...(variant === 'metrics' ? { scrape: await scrapeCost(env) } : {}),
            ...(variant === 'tracing'
              ? {
                  exported: {
                    requests: collector.requests - exportedBefore.requests,
                    bytes: collector.bytes - exportedBefore.bytes,
                  },
                }
              : {}),
          };
          runs.push(run);
          options.log(
            `   ${run.perSecond.toFixed(1)} deliveries/s, service CPU ${run.serviceCpuMsPerDelivery.toFixed(2)} ms per delivery`,
          );
        } finally {
          await env.close();
        }
      }
    }
  } finally {
    await collector.close();
  }
  const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
  const of = (variant: Observability) => runs.filter((run) => run.variant === variant);
  const offCpu = mean(of('off').map((run) => run.serviceCpuMsPerDelivery));
  const summary = VARIANTS.map((variant): ObservabilitySummary => {
    const cpu = mean(of(variant).map((run) => run.serviceCpuMsPerDelivery));
    return {
      variant,
      serviceCpuMsPerDelivery: cpu,
      overheadPercent: (cpu / offCpu - 1) * 100,
      perSecond: mean(of(variant).map((run) => run.perSecond)),
    };
  });
  return {
    rounds: options.rounds,
    concurrency: options.concurrency,
    durationMs: options.durationMs,
    runs,
    summary,
  };
}

/** The results as a table. */
export function formatObservability(results: ObservabilityResults): string {
  const lines = [
    `Observability cost: ${results.rounds} round(s) of ${results.durationMs / 1000} s at concurrency ${results.concurrency}, service process CPU per delivery`,
    '',
    'variant   deliveries/s   CPU ms/delivery   vs off',
    ...results.summary.map(
      (row) =>
        `${row.variant.padEnd(9)} ${row.perSecond.toFixed(1).padStart(12)}   ${row.serviceCpuMsPerDelivery.toFixed(3).padStart(15)}   ${row.variant === 'off' ? '     —' : `${row.overheadPercent >= 0 ? '+' : ''}${row.overheadPercent.toFixed(1)}%`.padStart(6)}`,
    ),
  ];
  const scrapes = results.runs.flatMap((run) => (run.scrape ? [run.scrape] : []));
  if (scrapes.length > 0) {
    const cpu = scrapes.reduce((sum, scrape) => sum + scrape.cpuMs, 0) / scrapes.length;
    lines.push(
      '',
      `GET /metrics: ${cpu.toFixed(2)} ms of service CPU per scrape (${scrapes[0]?.bytes ?? 0} bytes; every 15 s that is ${((cpu / 15_000) * 100).toFixed(3)}% of a core)`,
    );
  }
  const exported = results.runs.flatMap((run) => (run.exported ? [{ ...run.exported, completed: run.completed }] : []));
  if (exported.length > 0) {
    const spansBytes = exported.reduce((sum, e) => sum + e.bytes, 0);
    const deliveries = exported.reduce((sum, e) => sum + e.completed, 0);
    lines.push(
      `OTLP export: ${exported.reduce((sum, e) => sum + e.requests, 0)} requests, ${(spansBytes / Math.max(1, deliveries)).toFixed(0)} bytes per delivery`,
    );
  }
  return lines.join('\n');
}
