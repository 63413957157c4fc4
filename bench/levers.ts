/**
 * `tsx bench/levers.ts [LEVER…] [--repeat N] [--duration S]` — measures each lever by running
 * bench/run.ts once per variant (a fresh dev server and service each time), the variants of a
 * lever interleaved and repeated, and prints a before/after table per lever (medians) in
 * Markdown, for docs/benchmarks.md. Levers that need a code change (fan-out expansion, the store
 * statements) are measured by running the same command before and after that commit instead.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunResults } from './report';

interface Variant {
  readonly name: string;
  readonly flags: readonly string[];
}

interface Lever {
  readonly title: string;
  /** The variant the service ships with comes last. */
  readonly variants: readonly Variant[];
  readonly parts: string;
  readonly extra?: readonly string[];
  readonly metrics: ReadonlyArray<readonly [string, (r: RunResults) => number | undefined]>;
}

const named = <T extends { name: string }>(items: readonly T[], name: string): T | undefined =>
  items.find((item) => item.name === name || item.name.startsWith(`${name} (`));
const throughputOf = (name: string) => (r: RunResults) => named(r.throughput, name)?.perSecond;
const cpuOf = (name: string) => (r: RunResults) => {
  const t = named(r.throughput, name);
  return t ? t.serviceCpuMsPerDelivery + t.temporalCpuMsPerDelivery : undefined;
};
const latencyOf = (name: string, p: 'p50' | 'p99') => (r: RunResults) => named(r.latency, name)?.latency[p];

const THROUGHPUT_AND_LATENCY: Lever['metrics'] = [
  ['Temporal ceiling, deliveries/s', throughputOf('Temporal ceiling')],
  ['ours, deliveries/s', throughputOf('ours')],
  ['ours, CPU ms per delivery (service + Temporal)', cpuOf('ours')],
  [
    'ours ÷ ceiling',
    (r) => (throughputOf('ours')(r) ?? Number.NaN) / (throughputOf('Temporal ceiling')(r) ?? Number.NaN),
  ],
  ['latency at 10/s, ours p50 ms', latencyOf('ours', 'p50')],
  ['latency at 10/s, ours p99 ms', latencyOf('ours', 'p99')],
  ['latency at 10/s, ceiling p50 ms', latencyOf('Temporal ceiling', 'p50')],
];

const LEVERS: Record<string, Lever> = {
  pragmas: {
    title: 'Dev server SQLite pragmas (journal_mode=wal, synchronous=normal)',
    variants: [
      { name: 'no pragmas', flags: ['--pragmas', 'none'] },
      { name: 'wal + synchronous=normal', flags: [] },
    ],
    parts: 'throughput,latency',
    metrics: THROUGHPUT_AND_LATENCY,
  },
  eager: {
    title: 'Eager workflow start (client on the worker’s NativeConnection)',
    variants: [
      { name: 'off', flags: ['--eager', 'off'] },
      { name: 'on', flags: ['--eager', 'on'] },
    ],
    parts: 'throughput,latency',
    metrics: THROUGHPUT_AND_LATENCY,
  },
  'eager-activity': {
    title: 'Eager activity dispatch (the dev server’s system.enableActivityEagerExecution)',
    variants: [
      { name: 'off (dev server default)', flags: ['--eager-activity', 'off'] },
      { name: 'on', flags: [] },
    ],
    parts: 'throughput,latency',
    metrics: THROUGHPUT_AND_LATENCY,
  },
  pollers: {
    title: 'Worker pollers and slots',
    variants: [
      { name: 'SDK defaults', flags: [] },
      {
        name: 'polls 2/2, 50 slots',
        flags: [
          '--tuning',
          'maxConcurrentWorkflowTaskPolls=2,maxConcurrentActivityTaskPolls=2,maxConcurrentWorkflowTaskExecutions=50,maxConcurrentActivityTaskExecutions=50',
        ],
      },
      {
        name: 'polls 8/8, 200 slots',
        flags: [
          '--tuning',
          'maxConcurrentWorkflowTaskPolls=8,maxConcurrentActivityTaskPolls=8,maxConcurrentWorkflowTaskExecutions=200,maxConcurrentActivityTaskExecutions=200',
        ],
      },
    ],
    parts: 'throughput,latency',
    metrics: THROUGHPUT_AND_LATENCY,
  },
  bundle: {
    title: 'Pre-bundled workflow code (TEMPORAL_WORKFLOW_BUNDLE)',
    variants: [
      { name: 'bundled at start-up', flags: ['--bundle', 'runtime'] },
      { name: 'pre-built bundle', flags: ['--bundle', 'prebuilt'] },
    ],
    parts: 'throughput',
    extra: ['--duration', '4'],
    metrics: [
      ['service start (worker and API), ms', (r) => r.timings['service.serviceStartMs']],
      ['service start, ms', (r) => r.timings.serviceStartMs],
      ['service RSS at rest, MB', (r) => r.idleRssMb.service],
    ],
  },
  cache: {
    title: 'maxCachedWorkflows, with deliveries waiting to retry',
    variants: [
      { name: 'SDK default', flags: [] },
      { name: '1000', flags: ['--tuning', 'maxCachedWorkflows=1000'] },
      { name: '100', flags: ['--tuning', 'maxCachedWorkflows=100'] },
    ],
    parts: 'storm',
    metrics: [
      ['deliveries waiting', (r) => r.storm?.deliveries],
      ['service RSS while waiting, MB', (r) => r.storm?.waiting.serviceRssMbMax],
      ['service RSS at rest, MB', (r) => r.idleRssMb.service],
      ['drain after recovery, s', (r) => (r.storm ? r.storm.drainMs / 1000 : undefined)],
    ],
  },
  'keep-alive': {
    title: 'Shared keep-alive undici Agent (raw HTTP path)',
    variants: [{ name: 'both, one run', flags: ['--raw-fresh-connections'] }],
    parts: 'throughput',
    metrics: [
      ['raw HTTP, a connection per request, req/s', throughputOf('raw HTTP, a connection per request')],
      ['raw HTTP, shared keep-alive agent, req/s', throughputOf('raw HTTP')],
    ],
  },
};

function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const fmt = (v: number): string =>
  !Number.isFinite(v) ? '–' : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);

function main(): void {
  const argv = process.argv.slice(2);
  const option = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv.splice(i, 2)[1] : undefined;
  };
  const repeat = Number(option('--repeat') ?? 2);
  const duration = option('--duration') ?? '10';
  const storm = option('--storm') ?? '20x100';
  const names = argv.length ? argv : Object.keys(LEVERS);
  const out = mkdtempSync(path.join(os.tmpdir(), 'webhooks-levers-'));
  for (const name of names) {
    const lever = LEVERS[name];
    if (!lever) throw new Error(`unknown lever ${name}; one of ${Object.keys(LEVERS).join(', ')}`);
    const results = new Map<string, RunResults[]>(lever.variants.map((v) => [v.name, []]));
    const loads: string[] = [];
    for (let round = 0; round < repeat; round += 1) {
      for (const variant of lever.variants) {
        const label = `${name}-${variant.name.replace(/[^A-Za-z0-9]+/g, '_')}-${round}`;
        // Latency at 10/s: below this box's Temporal ceiling, so it measures latency, not a growing queue.
        const args = [
          'bench/run.ts',
          '--only',
          lever.parts,
          '--duration',
          duration,
          '--storm',
          storm,
          '--rate',
          '10',
          '--label',
          label,
          '--out',
          out,
          ...(lever.extra ?? []),
          ...variant.flags,
        ];
        process.stderr.write(
          `[levers] ${name} / ${variant.name} (round ${round + 1}/${repeat}), load ${os.loadavg()[0]?.toFixed(2)}\n`,
        );
        const run = spawnSync(path.join(__dirname, '..', 'node_modules', '.bin', 'tsx'), args, {
          stdio: ['ignore', 'ignore', 'inherit'],
          timeout: 1_800_000,
        });
        if (run.status !== 0) {
          process.stderr.write(`[levers] run failed (${run.status ?? run.signal}); skipped\n`);
          continue;
        }
        const file = readdirSync(out).find((f) => f.endsWith(`-${label}.json`));
        if (!file) continue;
        const result = JSON.parse(readFileSync(path.join(out, file), 'utf8')) as RunResults;
        results.get(variant.name)?.push(result);
        loads.push(result.machine.loadBefore.split(',')[0] ?? '?');
      }
    }
    const lines = [
      `### ${lever.title}`,
      '',
      `Median of ${repeat} run(s) per variant, interleaved; load average (1 min) before each run: ${loads.join(', ')}.`,
      '',
    ];
    lines.push(
      `| | ${lever.variants.map((v) => v.name).join(' | ')} |`,
      `|---|${lever.variants.map(() => '---:').join('|')}|`,
    );
    for (const [metric, get] of lever.metrics) {
      lines.push(
        `| ${metric} | ${lever.variants.map((v) => fmt(median((results.get(v.name) ?? []).map((r) => get(r) ?? Number.NaN)))).join(' | ')} |`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n\n`);
  }
}

main();
