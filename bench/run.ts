/**
 * `npm run bench` — measures every delivery path against its ceiling in one run.
 *
 *   npm run bench                 the full run (about 30 minutes on 2 cores)
 *   npm run bench -- --quick      a short run (under a minute here, 13 s of it set-up), the CI smoke test
 *
 * Options (for measuring levers): --label NAME, --concurrency N, --rate N[,N], --pragmas default|none,
 * --eager-activity on|off (the dev server's eager activity dispatch; default on, as npm start),
 * --eager on|off (default on, as npm start; always off with --split), --bundle runtime|prebuilt (default: runtime, as
 * npm start; prebuilt with --quick), --tuning key=value[,key=value…],
 * --start-concurrency N, --only throughput,latency,burst,fanout,storm,fairness,recover, --fanout 1000,10000,
 * --fairness N (account A's subscribers in the fairness scenario; default 10000, quick 200),
 * --burst PRODUCERSxSECONDS (default 20x30; quick 8x2), --mode per-delivery|per-subscriber (WEBHOOKS_DELIVERY_MODE;
 * default per-delivery), --out DIR, --profile (CPU profiles of the service during
 * scenarios 2, 3 and 7; summarise with bench/profile-summary.ts),
 * --observability [--rounds N] (instead of the scenarios: the service's CPU per delivery with metrics and
 * tracing off, metrics on, tracing on, N rounds (default 2; quick 1), see bench/observability.ts).
 *
 * Prints a table, writes bench/results/<stamp>-<label>.json (raw results) and .svg (chart).
 * No figure is asserted: the run exits 0 when it completes, whatever it measured.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DeliveryMode } from '../core/model';
import { loadConfig } from '../src/config';
import { DEFAULT_TOOLS_DIR, findTemporalCli } from '../devtools/temporal-cli';
import { writeWorkflowBundleInChildProcess } from '../src/temporal/workflow-bundle';
import { burst, type BurstResult } from './burst';
import { startEnv, type EnvOptions, type TemporalLogCounts } from './env';
import {
  fairnessRun,
  formatFairness,
  throttleAccuracy,
  type FairnessResult,
  type FairnessRun,
  type FairnessSizes,
  type ThrottleAccuracy,
} from './fairness';
import { formatObservability, observabilityCost } from './observability';
import { formatRecover, recoverScenario } from './recover';
import type { ServiceStats, WorkerTuning } from './protocol';
import { chartSvg, formatResults, type Machine, type RunResults } from './report';
import {
  fanOut,
  latencies,
  ourThroughput,
  rawThroughput,
  retryStorm,
  setUp,
  temporalThroughput,
  type FanOutResult,
  type StormResult,
  type ThroughputResult,
  type LatencyResult,
} from './scenarios';

type Part = 'throughput' | 'latency' | 'burst' | 'fanout' | 'storm' | 'fairness' | 'recover';

interface Profile {
  readonly throughputMs: number;
  readonly latencyMs: number;
  /** The issue's 50/s, and a rate this box's Temporal ceiling sustains (see docs/benchmarks.md). */
  readonly latencyRates: readonly number[];
  /** Subscriber counts of the fan-out scenario. */
  readonly fanOut: readonly number[];
  readonly fanOutDeadlineMs: number;
  readonly stormEvents: number;
  readonly stormSubscribers: number;
  readonly stormWaitMs: number;
  readonly stormDeadlineMs: number;
  /** The burst (burst.ts): producers, for how long, and the longest wait for its drain. */
  readonly burstProducers: number;
  readonly burstMs: number;
  readonly burstDrainDeadlineMs: number;
  /** After the drain, how long to listen for deliveries posted twice. */
  readonly burstLateMs: number;
  readonly settleMs: number;
  /** Unmeasured load through the ceiling and through our path first, so code is compiled and warm. */
  readonly warmUpMs: number;
  /** The fairness scenario's sizes (bench/fairness.ts). */
  readonly fairness: FairnessSizes;
  /** The service's workflow code: bundled by the worker at start (as `npm start`), or prebuilt. */
  readonly bundle: 'runtime' | 'prebuilt';
}

const PROFILES: Record<'quick' | 'full', Profile> = {
  // Every scenario, briefly: the latency rate is one this machine completes (50/s only builds a
  // queue that takes longer to drain than the rest of the run); the fan-out, to 150, still takes
  // the outbox path of fan-outs over 100 and is delivered before the storm starts; the burst, 8
  // producers for 2 s, accepts about 400 events, which drain in under 10 s. The workflow
  // bundle is built beside the store instead of after it, which shortens the set-up.
  quick: {
    throughputMs: 3_000,
    latencyMs: 3_000,
    latencyRates: [10],
    fanOut: [150],
    fanOutDeadlineMs: 20_000,
    stormEvents: 5,
    stormSubscribers: 10,
    stormWaitMs: 1_000,
    stormDeadlineMs: 10_000,
    burstProducers: 8,
    burstMs: 2_000,
    burstDrainDeadlineMs: 30_000,
    burstLateMs: 500,
    settleMs: 500,
    warmUpMs: 1_000,
    fairness: { subscribers: 200, deadlineMs: 60_000, throttleRate: 20, throttleEvents: 60 },
    bundle: 'prebuilt',
  },
  full: {
    throughputMs: 20_000,
    latencyMs: 30_000,
    latencyRates: [50, 10],
    fanOut: [1_000, 10_000],
    fanOutDeadlineMs: 180_000,
    stormEvents: 100,
    stormSubscribers: 100,
    stormWaitMs: 15_000,
    stormDeadlineMs: 300_000,
    burstProducers: 20,
    burstMs: 30_000,
    burstDrainDeadlineMs: 900_000,
    burstLateMs: 2_000,
    settleMs: 3_000,
    warmUpMs: 10_000,
    fairness: { subscribers: 10_000, deadlineMs: 600_000, throttleRate: 50, throttleEvents: 1_500 },
    bundle: 'runtime',
  },
};

interface Args {
  quick: boolean;
  label: string;
  concurrency: number;
  /** Open-loop rates of the latency scenario, events/s; undefined: the profile's. */
  rates: number[] | undefined;
  pragmas: 'default' | 'none';
  eagerActivity: boolean;
  eager: boolean;
  /** Undefined: the profile's. */
  bundle: 'runtime' | 'prebuilt' | undefined;
  tuning: WorkerTuning;
  startConcurrency: number | undefined;
  only: Set<Part>;
  out: string;
  /** Write CPU profiles of the service during the Temporal ceiling and our sustained run. */
  profile: boolean;
  /** Retry storm size, events × subscribers, instead of the profile's. */
  storm: { events: number; subscribers: number } | undefined;
  /** Seconds per throughput and latency scenario, instead of the profile's. */
  durationS: number | undefined;
  /** API and worker in two processes over PostgreSQL, instead of one over PGlite. */
  split: boolean;
  /** WEBHOOKS_DELIVERY_MODE of the service. */
  deliveryMode: DeliveryMode;
  /** Also measure raw HTTP with a new connection per request (the keep-alive agent lever). */
  rawFresh: boolean;
  /** Fan-out sizes to run instead of the profile's. */
  fanOut: number[] | undefined;
  /** Account A's subscribers in the fairness scenario, instead of the profile's. */
  fairnessSubscribers: number | undefined;
  /** Burst producers and seconds, instead of the profile's. */
  burst: { producers: number; seconds: number } | undefined;
  /** Measure the cost of metrics and of tracing instead of the scenarios. */
  observability: boolean;
  /** Rounds of the observability measurement; undefined: 2 (quick: 1). */
  rounds: number | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    quick: false,
    label: 'default',
    concurrency: 32,
    rates: undefined,
    pragmas: 'default',
    eagerActivity: true,
    eager: true,
    bundle: undefined,
    tuning: {},
    startConcurrency: undefined,
    only: new Set<Part>(['throughput', 'latency', 'burst', 'fanout', 'storm', 'fairness', 'recover']),
    out: path.join(__dirname, 'results'),
    profile: false,
    fanOut: undefined,
    fairnessSubscribers: undefined,
    rawFresh: false,
    split: false,
    deliveryMode: 'per-delivery',
    durationS: undefined,
    storm: undefined,
    burst: undefined,
    observability: false,
    rounds: undefined,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i] as string;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case '--quick':
        args.quick = true;
        break;
      case '--label':
        args.label = value().replace(/[^A-Za-z0-9._-]/g, '_');
        break;
      case '--concurrency':
        args.concurrency = Number(value());
        break;
      case '--rate':
        args.rates = value().split(',').map(Number);
        break;
      case '--pragmas':
        args.pragmas = value() === 'none' ? 'none' : 'default';
        break;
      case '--eager-activity':
        args.eagerActivity = value() !== 'off';
        break;
      case '--eager':
        args.eager = value() !== 'off';
        break;
      case '--bundle':
        args.bundle = value() === 'prebuilt' ? 'prebuilt' : 'runtime';
        break;
      case '--tuning':
        for (const pair of value().split(',')) {
          const [key, raw] = pair.split('=');
          if (key && raw !== undefined) (args.tuning as Record<string, number>)[key] = Number(raw);
        }
        break;
      case '--start-concurrency':
        args.startConcurrency = Number(value());
        break;
      case '--only': {
        const parts = value().split(',');
        const known: readonly string[] = ['throughput', 'latency', 'burst', 'fanout', 'storm', 'fairness', 'recover'];
        const unknown = parts.filter((part) => !known.includes(part));
        if (unknown.length > 0) throw new Error(`--only: unknown part ${unknown.join(', ')} (${known.join(', ')})`);
        args.only = new Set(parts as Part[]);
        break;
      }
      case '--burst': {
        const [producers, seconds] = value().split('x').map(Number);
        if (!producers || !seconds || !Number.isInteger(producers))
          throw new Error('--burst takes PRODUCERSxSECONDS, e.g. 20x30');
        args.burst = { producers, seconds };
        break;
      }
      case '--fanout':
        args.fanOut = value().split(',').map(Number);
        if (args.fanOut.some((n) => !Number.isInteger(n) || n < 1))
          throw new Error('--fanout takes subscriber counts, e.g. 1000,10000');
        break;
      case '--fairness':
        args.fairnessSubscribers = Number(value());
        if (!Number.isInteger(args.fairnessSubscribers) || args.fairnessSubscribers < 1)
          throw new Error('--fairness takes a subscriber count, e.g. 2000');
        break;
      case '--storm': {
        const [events, subscribers] = value().split('x').map(Number);
        if (!events || !subscribers) throw new Error('--storm takes EVENTSxSUBSCRIBERS, e.g. 100x100');
        args.storm = { events, subscribers };
        break;
      }
      case '--duration':
        args.durationS = Number(value());
        break;
      case '--split':
        args.split = true;
        break;
      case '--mode': {
        const mode = value();
        if (mode !== 'per-delivery' && mode !== 'per-subscriber')
          throw new Error('--mode takes per-delivery or per-subscriber');
        args.deliveryMode = mode;
        break;
      }
      case '--raw-fresh-connections':
        args.rawFresh = true;
        break;
      case '--profile':
        args.profile = true;
        break;
      case '--observability':
        args.observability = true;
        break;
      case '--rounds':
        args.rounds = Number(value());
        if (!Number.isInteger(args.rounds) || args.rounds < 1) throw new Error('--rounds takes a whole number');
        break;
      case '--out':
        args.out = path.resolve(value());
        break;
      default:
        throw new Error(`unknown option ${flag} (see bench/run.ts)`);
    }
  }
  return args;
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
}

async function describeMachine(): Promise<Machine> {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux
  }
  let temporalCli = 'temporal CLI: unknown';
  try {
    const cli = await findTemporalCli({ explicitPath: loadConfig().temporal.cliPath, toolsDir: DEFAULT_TOOLS_DIR });
    temporalCli = execFileSync(cli, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // reported as unknown
  }
  return {
    cpuModel,
    cores: os.availableParallelism(),
    memoryGb: os.totalmem() / 2 ** 30,
    node: process.version,
    temporalCli,
    loadBefore: loadAverage(),
  };
}

/**
 * 8. Fairness: the scenario of bench/fairness.ts with WEBHOOKS_FAIRNESS off, then on, each in a
 * service and Temporal server of its own (so neither inherits the other's backlog); throttle
 * accuracy in the second.
 */
async function fairnessScenario(options: EnvOptions, sizes: FairnessSizes, logBase: string): Promise<FairnessResult> {
  const runs: FairnessRun[] = [];
  let throttle: ThrottleAccuracy | undefined;
  for (const fairness of [false, true]) {
    options.log(`8. fairness ${fairness ? 'on' : 'off'}: A posts one event to ${sizes.subscribers}, then B one to one`);
    const env = await startEnv({
      ...options,
      ceiling: false,
      fairness,
      logFile: `${logBase}-fairness-${fairness ? 'on' : 'off'}-service.log`,
      temporalLogFile: `${logBase}-fairness-${fairness ? 'on' : 'off'}-temporal.log`,
    });
    try {
      runs.push(await fairnessRun(env, fairness, sizes));
      if (fairness) {
        options.log(
          `   throttle accuracy: ${sizes.throttleEvents} events to a subscription throttled to ${sizes.throttleRate}/s`,
        );
        throttle = await throttleAccuracy(env, sizes);
      }
    } finally {
      await env.close();
    }
  }
  return { subscribers: sizes.subscribers, runs, ...(throttle ? { throttle } : {}) };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const profileName = args.quick ? 'quick' : 'full';
  const profile = {
    ...PROFILES[profileName],
    ...(args.fanOut ? { fanOut: args.fanOut } : {}),
    ...(args.fairnessSubscribers
      ? { fairness: { ...PROFILES[profileName].fairness, subscribers: args.fairnessSubscribers } }
      : {}),
    ...(args.storm ? { stormEvents: args.storm.events, stormSubscribers: args.storm.subscribers } : {}),
    ...(args.burst ? { burstProducers: args.burst.producers, burstMs: args.burst.seconds * 1000 } : {}),
    ...(args.durationS
      ? {
          throughputMs: args.durationS * 1000,
          latencyMs: args.durationS * 1000,
          warmUpMs: Math.min(10_000, (args.durationS * 1000) / 2),
        }
      : {}),
  };
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const stamp = startedAt.replace(/[:.]/g, '-');
  mkdirSync(args.out, { recursive: true });
  const log = (line: string): void =>
    void process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  const machine = await describeMachine();
  log(`${profileName} run "${args.label}" — load average ${machine.loadBefore}`);

  const timings: Record<string, number> = {};
  const bundle = args.bundle ?? profile.bundle;
  // Built in a child process, while the dev server starts and the store is created.
  const workflowBundlePath =
    bundle === 'prebuilt'
      ? (async () => {
          const t = performance.now();
          const file = path.join(args.out, `${stamp}-workflow-bundle.js`);
          await writeWorkflowBundleInChildProcess(file);
          timings.prebuildBundleMs = Math.round(performance.now() - t);
          return file;
        })()
      : undefined;
  // Awaited by startEnv; a failure before then is reported there, not as an unhandled rejection.
  workflowBundlePath?.catch(() => undefined);

  if (args.observability) {
    const results = await observabilityCost({
      startEnv: (observability) =>
        startEnv({
          tuning: args.tuning,
          eagerStart: args.eager,
          ...(workflowBundlePath ? { workflowBundlePath } : {}),
          logFile: path.join(args.out, `${stamp}-${args.label}-${observability.observability}-service.log`),
          temporalLogFile: path.join(args.out, `${stamp}-${args.label}-${observability.observability}-temporal.log`),
          apiConnections: args.concurrency + 4,
          ceiling: false,
          observability,
          log,
        }),
      rounds: args.rounds ?? (args.quick ? 1 : 2),
      concurrency: args.concurrency,
      warmUpMs: profile.warmUpMs,
      durationMs: profile.throughputMs,
      settleMs: profile.settleMs,
      log,
    });
    const file = path.join(args.out, `${stamp}-${args.label}-observability.json`);
    writeFileSync(file, `${JSON.stringify({ startedAt, machine, ...results }, null, 1)}\n`);
    process.stdout.write(`${formatObservability(results)}\n\nraw results: ${path.relative(process.cwd(), file)}\n`);
    return;
  }

  const needsCeiling = args.only.has('throughput') || args.only.has('latency');
  const envOptions: EnvOptions = {
    tuning: args.tuning,
    // As main.ts: eager start when the worker shares the API's process (not in split mode).
    eagerStart: args.eager && !args.split,
    ...(args.pragmas === 'none' ? { sqlitePragmas: {} } : {}),
    ...(args.eagerActivity ? {} : { dynamicConfig: {} }),
    ...(workflowBundlePath ? { workflowBundlePath } : {}),
    ...(args.startConcurrency !== undefined ? { startConcurrency: args.startConcurrency } : {}),
    logFile: path.join(args.out, `${stamp}-${args.label}-service.log`),
    temporalLogFile: path.join(args.out, `${stamp}-${args.label}-temporal.log`),
    apiConnections: Math.max(args.concurrency, 16, profile.burstProducers) + 4,
    split: args.split,
    deliveryMode: args.deliveryMode,
    // Scenarios 2 and 4 and their warm-up drive the ceiling; without them it is not started.
    ceiling: needsCeiling,
    log,
  };
  const env = await startEnv(envOptions);
  Object.assign(timings, env.timings);
  const rssMb = async (process: typeof env.service): Promise<number> =>
    (await process.request<ServiceStats>({ type: 'stats' })).rss / 2 ** 20;
  const idleRssMb = {
    service: await rssMb(env.service),
    ...(env.ceiling ? { ceiling: await rssMb(env.ceiling) } : {}),
    ...(env.apiProcess ? { api: await rssMb(env.apiProcess) } : {}),
  };
  const throughput: ThroughputResult[] = [];
  const latency: LatencyResult[] = [];
  const fanOutResults: FanOutResult[] = [];
  let storm: StormResult | undefined;
  let burstResult: BurstResult | undefined;
  let temporalServerErrors = 0;
  let temporalServerLog: TemporalLogCounts | undefined;
  let storeStats: Record<string, { calls: number; ms: number }> = {};
  try {
    log('setting up event types and subscriptions');
    let t = performance.now();
    const subscriptions = await setUp(env, {
      fanOut: args.only.has('fanout') ? profile.fanOut : [],
      storm: args.only.has('storm') ? profile.stormSubscribers : 0,
    });
    timings.setUpMs = Math.round(performance.now() - t);
    env.receiver.recording = false;

    if (needsCeiling || args.only.has('burst')) {
      log(
        `warm-up: ${profile.warmUpMs / 1000} s ${needsCeiling ? 'through the ceiling and ' : ''}through our path, not measured`,
      );
      if (needsCeiling) await temporalThroughput(env, args.concurrency, profile.warmUpMs);
      await ourThroughput(env, args.concurrency, profile.warmUpMs);
      await sleep(profile.settleMs);
    }
    const profiled = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      if (!args.profile) return fn();
      const target = (name === 'ceiling' ? env.ceiling : undefined) ?? env.service;
      await target.request({ type: 'profile-start' });
      try {
        return await fn();
      } finally {
        const file = path.join(args.out, `${stamp}-${args.label}-${name}.cpuprofile`);
        await target.request({ type: 'profile-stop', file });
        log(`CPU profile: ${path.relative(process.cwd(), file)} (summary: npx tsx bench/profile-summary.ts FILE)`);
      }
    };
    if (args.only.has('throughput')) {
      log('1. raw HTTP ceiling');
      throughput.push(await rawThroughput(env, args.concurrency, profile.throughputMs));
      if (args.rawFresh) throughput.push(await rawThroughput(env, args.concurrency, profile.throughputMs, true));
      await sleep(profile.settleMs);
      log('2. Temporal ceiling');
      throughput.push(await profiled('ceiling', () => temporalThroughput(env, args.concurrency, profile.throughputMs)));
      await sleep(profile.settleMs);
      log('3. our sustained throughput');
      await env.service.request({ type: 'store-stats' });
      throughput.push(await profiled('ours', () => ourThroughput(env, args.concurrency, profile.throughputMs)));
      storeStats = await env.service.request<Record<string, { calls: number; ms: number }>>({ type: 'store-stats' });
      await sleep(profile.settleMs);
    } else if (args.only.has('burst')) {
      // The burst is compared with the steady-state capacity of the same run: our closed loop.
      log('3. our sustained throughput (the steady-state capacity the burst is compared with)');
      await env.service.request({ type: 'store-stats' });
      throughput.push(await ourThroughput(env, args.concurrency, profile.throughputMs));
      storeStats = await env.service.request<Record<string, { calls: number; ms: number }>>({ type: 'store-stats' });
      await sleep(profile.settleMs);
    }
    if (args.only.has('latency')) {
      for (const rate of args.rates ?? profile.latencyRates) {
        log(`4. latency at ${rate}/s`);
        latency.push(...(await latencies(env, rate, profile.latencyMs)));
        await sleep(profile.settleMs);
      }
      await sleep(profile.settleMs);
    }
    if (args.only.has('burst')) {
      log(`7. burst: ${profile.burstProducers} producers × ${profile.burstMs / 1000} s, then the drain`);
      burstResult = await profiled('burst', () =>
        burst(env, subscriptions.burst, {
          producers: profile.burstProducers,
          durationMs: profile.burstMs,
          drainDeadlineMs: profile.burstDrainDeadlineMs,
          lateMs: profile.burstLateMs,
          steadyPerSecond: throughput.find((t) => t.name.startsWith('ours'))?.perSecond,
        }),
      );
      log(
        `   ${burstResult.accepted} accepted, ${burstResult.drained ? `drained ${(burstResult.drainMs / 1000).toFixed(1)} s after the producers stopped` : `${burstResult.undelivered} undelivered at the deadline`}`,
      );
      await sleep(profile.settleMs);
    }
    if (args.only.has('fanout')) {
      for (const n of profile.fanOut) {
        log(`5. fan-out to ${n}`);
        fanOutResults.push(await fanOut(env, subscriptions, n, profile.fanOutDeadlineMs));
        await sleep(profile.settleMs);
      }
    }
    if (args.only.has('storm')) {
      log(`6. retry storm (${profile.stormEvents * profile.stormSubscribers} deliveries)`);
      t = performance.now();
      storm = await retryStorm(env, subscriptions, profile.stormEvents, profile.stormWaitMs, profile.stormDeadlineMs);
    }
    temporalServerErrors = env.temporalErrors();
    temporalServerLog = env.temporalLog();
  } finally {
    await env.close();
  }
  const fairnessResult = args.only.has('fairness')
    ? await fairnessScenario(envOptions, profile.fairness, path.join(args.out, `${stamp}-${args.label}`))
    : undefined;
  const recover = args.only.has('recover')
    ? await recoverScenario(envOptions, profileName, path.join(args.out, `${stamp}-${args.label}`))
    : undefined;

  const results: RunResults = {
    label: args.label,
    profile: profileName,
    startedAt,
    settings: {
      mode: args.split ? 'split: API and worker processes over PostgreSQL' : 'embedded: one process over PGlite',
      deliveryMode: args.deliveryMode,
      concurrency: args.concurrency,
      rates: args.rates ?? profile.latencyRates,
      sqlitePragmas: args.pragmas,
      eagerActivity: args.eagerActivity,
      eagerStart: args.eager && !args.split,
      workflowBundle: bundle,
      tuning: args.tuning,
      ...(args.startConcurrency !== undefined ? { startConcurrency: args.startConcurrency } : {}),
      ...(args.only.has('burst') ? { burst: `${profile.burstProducers} producers × ${profile.burstMs / 1000} s` } : {}),
    },
    machine: { ...machine, loadAfter: loadAverage() },
    timings,
    idleRssMb,
    temporalServerErrors,
    ...(temporalServerLog ? { temporalServerLog } : {}),
    storeStats,
    throughput,
    latency,
    fanOut: fanOutResults,
    ...(storm ? { storm } : {}),
    ...(burstResult ? { burst: burstResult } : {}),
    ...(fairnessResult ? { fairness: fairnessResult } : {}),
    ...(recover ? { recover } : {}),
    wallMs: performance.now() - t0,
  };
  const base = path.join(args.out, `${stamp}-${args.label}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(`${base}.svg`, chartSvg(results));
  process.stdout.write(
    `${formatResults(results)}\n${fairnessResult ? `\n${formatFairness(fairnessResult)}\n` : ''}${recover ? `\n${formatRecover(recover)}\n` : ''}\nraw results: ${path.relative(process.cwd(), `${base}.json`)}\nchart: ${path.relative(process.cwd(), `${base}.svg`)}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
