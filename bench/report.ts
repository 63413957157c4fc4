/** Turns a run's results into the printed table, the raw JSON and an SVG chart. */
import type { BurstResult } from './burst';
import type { FairnessResult } from './fairness';
import type { TemporalLogCounts } from './env';
import type { HistoryCost } from './history-cost';
import type { FanOutResult, LatencyResult, StormResult, ThroughputResult } from './scenarios';
import { distribution, type Distribution } from './stats';

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly node: string;
  readonly temporalCli: string;
  readonly loadBefore: string;
  readonly loadAfter?: string;
}

export interface RunResults {
  readonly label: string;
  readonly profile: 'quick' | 'full';
  readonly startedAt: string;
  readonly settings: Record<string, unknown>;
  readonly machine: Machine;
  readonly timings: Record<string, number>;
  /** Resident memory of the service and ceiling processes once started, before any load, MB. */
  readonly idleRssMb: { readonly service: number; readonly ceiling?: number; readonly api?: number };
  /** Store statements during our sustained run (scenario 3): calls and wall time, by statement. */
  readonly storeStats: Record<string, { calls: number; ms: number }>;
  /** Error lines the Temporal dev server logged during the scenarios. */
  readonly temporalServerErrors: number;
  /** Every line it logged during the run, by level and by the messages that mean trouble. */
  readonly temporalServerLog?: TemporalLogCounts;
  readonly throughput: ThroughputResult[];
  readonly latency: LatencyResult[];
  readonly fanOut: FanOutResult[];
  readonly storm?: StormResult;
  readonly burst?: BurstResult;
  /** The fairness scenario and throttle accuracy (bench/fairness.ts). */
  readonly fairness?: FairnessResult;
  readonly wallMs: number;
}

const fmt = (value: number | undefined, digits = 0): string =>
  value === undefined || !Number.isFinite(value)
    ? '–'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (value: number | undefined): string => (value !== undefined && value < 10 ? fmt(value, 1) : fmt(value));
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0
    ? '–'
    : (a / b).toFixed(2);

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const byName = <T extends { name: string }>(items: readonly T[], prefix: string): T | undefined =>
  items.find((item) => item.name === prefix || item.name.startsWith(`${prefix} (`));

export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

/** The issue's targets, checked against this run (undefined when the run did not measure it). */
export function targets(results: RunResults): TargetCheck[] {
  const ours = byName(results.throughput, 'ours');
  const ceiling = byName(results.throughput, 'Temporal ceiling');
  const latency =
    results.latency.find((l) => l.rate === 50 && l.name.startsWith('ours')) ?? byName(results.latency, 'ours');
  const fan10k = results.fanOut.find((f) => f.subscribers === 10_000);
  const storm = results.storm;
  const sustained = ours && ceiling ? ours.perSecond / ceiling.perSecond : undefined;
  return [
    {
      target: 'sustained ≥ 0.8 × Temporal ceiling',
      measured: sustained === undefined ? '–' : `${sustained.toFixed(2)} ×`,
      met: sustained === undefined ? undefined : sustained >= 0.8,
    },
    {
      target: `latency at ${latency?.rate ?? 50}/s: p50 ≤ 25 ms, p99 ≤ 150 ms`,
      measured: latency ? `p50 ${ms(latency.latency.p50)} ms, p99 ${ms(latency.latency.p99)} ms` : '–',
      met: latency ? latency.latency.p50 <= 25 && latency.latency.p99 <= 150 && latency.missing === 0 : undefined,
    },
    {
      target: 'fan-out 10,000: 202 ≤ 200 ms, all delivered ≤ 60 s, payload not copied',
      measured: fan10k
        ? `202 in ${ms(fan10k.acceptMs)} ms, last after ${fmt(fan10k.lastMs / 1000, 1)} s, copied: ${fan10k.histories.some((h) => h.payloadCopied) ? 'yes' : 'no'}`
        : '–',
      met: fan10k
        ? fan10k.acceptMs <= 200 &&
          fan10k.complete &&
          fan10k.lastMs <= 60_000 &&
          !fan10k.histories.some((h) => h.payloadCopied)
        : undefined,
    },
    {
      target: `worker RSS ≤ 300 MB with ${fmt(storm?.deliveries ?? 10_000)} waiting to retry`,
      measured: storm
        ? `${fmt(storm.waiting.serviceRssMbMax)} MB (${results.idleRssMb.api === undefined ? 'one process: API + worker + PGlite' : 'worker process'})`
        : '–',
      met: storm && storm.deliveries >= 10_000 ? storm.waiting.serviceRssMbMax <= 300 : undefined,
    },
    ...burstTargets(results.burst),
  ];
}

/** Deliveries overtaken by an event accepted over a second later: at most this share, for "oldest first". */
const OLDEST_FIRST_TOLERANCE = 0.01;

function burstTargets(b: BurstResult | undefined): TargetCheck[] {
  const share = b ? burstRatio(b) : undefined;
  const delivered = b ? b.deliveredInBurst + b.deliveredInDrain : 0;
  const peak = b?.memory.peakSumMb;
  return [
    {
      target: 'burst: deliveries/s ≥ 0.8 × steady-state capacity (same run)',
      measured:
        b && share !== undefined
          ? `${share.toFixed(2)} × (${fmt(b.burstDeliveriesPerSecond, 1)}/s against ${fmt(b.steadyPerSecond, 1)}/s)`
          : '–',
      met: share === undefined ? undefined : share >= 0.8,
    },
    {
      target: 'burst: the backlog drains oldest first',
      measured: b
        ? `${fmt(b.overtake.over1s)} of ${fmt(delivered)} overtaken by > 1 s; p99 ${ms(b.overtake.p99)} ms, max ${fmt(b.overtake.max / 1000, 1)} s`
        : '–',
      met: b && delivered > 0 ? b.overtake.over1s <= delivered * OLDEST_FIRST_TOLERANCE : undefined,
    },
    {
      target: 'burst: no "context deadline exceeded" from the Temporal server',
      measured: b ? `${fmt(b.temporalLog.deadlineExceeded)} lines` : '–',
      met: b ? b.temporalLog.deadlineExceeded === 0 : undefined,
    },
    {
      target: 'burst: memory of all processes ≤ 700 MB with 10,000 events waiting',
      measured:
        b && peak !== undefined
          ? `${fmt(peak)} MB PSS (${Object.keys(b.memory.peakMb).join(' + ')}) with at most ${fmt(b.maxBacklog)} waiting`
          : '–',
      met: b && peak !== undefined ? (peak > 700 ? false : b.maxBacklog >= 10_000 ? true : undefined) : undefined,
    },
  ];
}

function burstRatio(b: BurstResult): number | undefined {
  return b.steadyPerSecond && Number.isFinite(b.steadyPerSecond)
    ? b.burstDeliveriesPerSecond / b.steadyPerSecond
    : undefined;
}

/** "8 events, visibility 1 + 1 (+1 at close), 3 Actions (…)": one delivery's cost in one line. */
export function costLine(cost: HistoryCost): string {
  const { start, upserts, close } = cost.visibility;
  const actions = Object.entries(cost.actions)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  const keys = cost.upsertKeys.length ? `: ${cost.upsertKeys.map((k) => k.join('+')).join(', ')}` : '';
  return `${cost.events} history events (${fmt(cost.bytes)} bytes), ${start + upserts} visibility writes (start ${start} + upserts ${upserts}${keys})${close ? ' + 1 at close' : ''}, ${cost.actionsTotal} billable Actions (${actions})`;
}

function formatBurst(b: BurstResult, out: string[]): void {
  out.push(
    '',
    `7. Burst: ${b.producers} producers POST /v1/events as fast as they are answered for ${fmt(b.durationMs / 1000)} s (one subscriber each, no waiting for deliveries), then the drain`,
  );
  const refused = Object.entries(b.refused)
    .map(([status, n]) => `${n}×${status}`)
    .concat(b.requestErrors ? [`${b.requestErrors} failed`] : []);
  out.push(
    table(
      [
        'accepted',
        'accepted/s',
        '202 p50 / p99 ms',
        'refused',
        'deliveries/s: burst',
        '÷ steady',
        'drain',
        'drain s',
        'max waiting',
        'oldest waiting, max s',
        'delivered twice',
        'CPU ms/delivery (service+temporal)',
      ],
      [
        [
          fmt(b.accepted),
          fmt(b.acceptedPerSecond, 1),
          `${ms(b.ack.p50)} / ${ms(b.ack.p99)}`,
          refused.length ? refused.join(', ') : '0',
          fmt(b.burstDeliveriesPerSecond, 1),
          ratio(b.burstDeliveriesPerSecond, b.steadyPerSecond),
          fmt(b.drainDeliveriesPerSecond, 1),
          b.drained ? fmt(b.drainMs / 1000, 1) : `${fmt(b.undelivered)} left (deadline)`,
          fmt(b.maxBacklog),
          fmt(b.maxOldestAgeS, 1),
          b.deliveredTwice ? `${fmt(b.deliveredTwice)} (${fmt(b.extraPosts)} extra posts)` : '0',
          `${ms(b.serviceCpuMsPerDelivery)} + ${ms(b.temporalCpuMsPerDelivery)}`,
        ],
      ],
    ),
  );
  const lines: string[] = [];
  lines.push(
    `steady-state capacity (3., ours, closed loop): ${fmt(b.steadyPerSecond, 1)}/s; the burst's deliveries/s ÷ it: ${ratio(b.burstDeliveriesPerSecond, b.steadyPerSecond)}; burst ${fmt(b.burstMs / 1000, 1)} s, ${fmt(b.deliveredInBurst)} delivered during it, ${fmt(b.deliveredInDrain)} after`,
  );
  lines.push(
    `createdAt → receiver: p50 ${fmt(b.latency.p50 / 1000, 1)} s, p99 ${fmt(b.latency.p99 / 1000, 1)} s, max ${fmt(b.latency.max / 1000, 1)} s; order: ${fmt(b.overtake.over1s)} deliveries overtaken by an event accepted > 1 s after them (overtake p50 ${ms(b.overtake.p50)} ms, p99 ${ms(b.overtake.p99)} ms, max ${fmt(b.overtake.max / 1000, 1)} s)`,
  );
  const open = b.timeline.flatMap((p) => (p.openWorkflows === undefined ? [] : [p.openWorkflows]));
  lines.push(
    `backpressure: workflows open in Temporal max ${open.length ? fmt(Math.max(...open)) : '–'} (median ${open.length ? fmt(distribution(open).p50) : '–'}) while up to ${fmt(b.maxBacklog)} events waited; dispatcher saturated ${b.gate.saturated}× (starts in flight then: ${b.gate.startsInFlight.join(', ') || '–'}), outbox drained ${b.gate.drainedOutbox}×`,
  );
  const peaks = Object.entries(b.memory.peakMb)
    .map(([name, r]) => `${name} ${fmt(r.mb)}${r.source === 'rss' ? ' (RSS)' : ''}`)
    .join(', ');
  lines.push(
    `memory, peak PSS MB: ${peaks}; all together ${fmt(b.memory.peakSumMb)} (at one sample; ${fmt(b.memory.firstSumMb)} before the burst); deployed (${b.memory.systemNames.join(' + ')}) ${fmt(b.memory.peakSystemMb)}`,
  );
  const log = b.temporalLog;
  lines.push(
    `Temporal server during the burst and drain: ${log.warn} warn, ${log.error} error${log.other ? `, ${log.other} other` : ''} lines; "context deadline exceeded" ${log.deadlineExceeded}, "Slow gRPC call" ${log.slowGrpc}`,
  );
  lines.push(
    `CPU: service ${b.serviceCpuMean.toFixed(2)} cores, Temporal ${Number.isFinite(b.temporalCpuMean) ? b.temporalCpuMean.toFixed(2) : '–'} cores on average from the first POST to the end of the drain`,
  );
  const [cost, ...others] = b.costs;
  if (cost) {
    lines.push(
      `per delivery answered 2xx on its first attempt${cost.firstAttemptOnly ? '' : ' (NOT a first-attempt-only history)'}: ${costLine(cost)}`,
    );
    lines.push(`  history: ${cost.eventTypes.join(', ')}`);
    if (others.some((o) => o.events !== cost.events || o.actionsTotal !== cost.actionsTotal))
      lines.push(
        `  other histories read: ${others.map((o) => `${o.events} events, ${o.actionsTotal} Actions`).join('; ')}`,
      );
  } else if (b.subscriberRun) {
    const run = b.subscriberRun;
    const attempts = run.eventTypes.filter((type) => type === 'MARKER_RECORDED').length;
    const per = (n: number): string => (attempts > 0 ? (n / attempts).toFixed(2) : '–');
    lines.push(
      `per delivery, throughput mode (the subscriber workflow's latest run, ${attempts} first attempts, ${run.events} events): ${per(run.events)} history events, ${per(run.bytes)} bytes, ${per(run.actionsTotal)} billable Actions, ${per(run.visibility.upserts)} upserts`,
    );
  } else lines.push('per delivery: no history could be read');
  out.push(...lines.map((line) => `   ${line}`));
  // The timeline, at most ~24 rows.
  const step = Math.max(1, Math.ceil(b.timeline.length / 24));
  const rows = b.timeline.filter((_, i) => i % step === 0 || i === b.timeline.length - 1);
  out.push(
    '',
    table(
      [
        't s',
        'accepted',
        'delivered',
        'waiting',
        'oldest waiting s',
        'open workflows',
        'created in [t, t+1 s): delivered at s (first / half / last)',
      ],
      rows.map((p) => [
        fmt(p.t),
        fmt(p.accepted),
        fmt(p.delivered),
        fmt(p.accepted - p.delivered),
        fmt(p.oldestAgeS, 1),
        p.openWorkflows === undefined ? '–' : fmt(p.openWorkflows),
        p.createdHere
          ? `${fmt(p.createdHere.count)}: ${fmt(p.createdHere.first, 1)} / ${fmt(p.createdHere.median, 1)} / ${fmt(p.createdHere.last, 1)}`
          : '',
      ]),
    ).replace(/^/gm, '   '),
  );
}

const distCells = (d: Distribution): string[] => [ms(d.p50), ms(d.p95), ms(d.p99), ms(d.max)];

export function formatResults(results: RunResults): string {
  const out: string[] = [];
  const m = results.machine;
  out.push(`webhook delivery benchmark — ${results.profile} run "${results.label}", ${results.startedAt}`);
  out.push(`machine: ${m.cores} × ${m.cpuModel}, ${fmt(m.memoryGb, 1)} GB; Node ${m.node}; ${m.temporalCli}`);
  out.push(`load average before: ${m.loadBefore}${m.loadAfter ? `; after: ${m.loadAfter}` : ''}`);
  out.push(`settings: ${JSON.stringify(results.settings)}`);
  out.push(
    `start-up (ms): ${Object.entries(results.timings)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  const ceilingRss =
    results.idleRssMb.ceiling === undefined ? 'ceiling not started' : `ceiling ${fmt(results.idleRssMb.ceiling)} MB`;
  out.push(
    results.idleRssMb.api === undefined
      ? `resident memory at rest: service ${fmt(results.idleRssMb.service)} MB, ${ceilingRss}`
      : `resident memory at rest: worker ${fmt(results.idleRssMb.service)} MB, API ${fmt(results.idleRssMb.api)} MB, ${ceilingRss}`,
  );
  out.push(
    'process CPU: the service (API + worker) for ours, the ceiling process for Temporal; in cores (1 = one core busy)',
  );

  if (results.throughput.length > 0) {
    const first = results.throughput[0] as ThroughputResult;
    out.push(
      '',
      `1–3. Throughput: closed loop, ${first.concurrency} in flight, ${fmt(first.durationMs / 1000)} s each (deliveries/s after a ${fmt(Math.min(2, first.durationMs / 5000), 1)} s warm-up)`,
    );
    const raw = byName(results.throughput, 'raw HTTP');
    const ceiling = byName(results.throughput, 'Temporal ceiling');
    out.push(
      table(
        [
          '',
          'deliveries/s',
          'p50 ms',
          'p99 ms',
          'errors',
          'process CPU',
          'temporal CPU',
          'CPU ms/delivery (process+temporal)',
          '÷ Temporal',
          '÷ raw HTTP',
        ],
        results.throughput.map((t) => {
          const cpu = (key: 'serviceCpu' | 'temporalCpu'): string => {
            const values = t.samples.map((s) => s[key] ?? Number.NaN).filter(Number.isFinite);
            return values.length ? (values.reduce((a, b) => a + b, 0) / values.length).toFixed(2) : '–';
          };
          return [
            t.name,
            fmt(t.perSecond),
            ms(t.latency.p50),
            ms(t.latency.p99),
            fmt(t.errors + t.missing),
            cpu('serviceCpu'),
            cpu('temporalCpu'),
            `${ms(t.serviceCpuMsPerDelivery)} + ${ms(t.temporalCpuMsPerDelivery)}`,
            ratio(t.perSecond, ceiling?.perSecond),
            ratio(t.perSecond, raw?.perSecond),
          ];
        }),
      ),
    );
  }
  const ours = byName(results.throughput, 'ours');
  const statements = Object.entries(results.storeStats);
  if (ours && statements.length > 0) {
    const deliveries = ours.completed || 1;
    const own = statements.filter(([sql]) => sql !== '(transaction)');
    out.push(
      '',
      `   store statements per delivery during "ours": ${(own.reduce((n, [, s]) => n + s.calls, 0) / deliveries).toFixed(1)} (wall ms include waiting for PGlite, which runs one statement at a time)`,
    );
    out.push(
      table(
        ['statement', 'calls/delivery', 'ms/delivery'],
        statements
          .sort((a, b) => b[1].ms - a[1].ms)
          .map(([sql, s]) => [sql, (s.calls / deliveries).toFixed(2), ms(s.ms / deliveries)]),
      ).replace(/^/gm, '   '),
    );
  }
  for (const rate of [...new Set(results.latency.map((l) => l.rate))]) {
    const group = results.latency.filter((l) => l.rate === rate);
    const first = group[0] as LatencyResult;
    out.push(
      '',
      `4. Latency: open loop, ${rate}/s for ${fmt(first.durationMs / 1000)} s, scheduled send → receiver's request (ms)`,
    );
    const ceiling = byName(group, 'Temporal ceiling');
    const raw = byName(group, 'raw HTTP');
    out.push(
      table(
        ['', 'p50', 'p95', 'p99', 'max', 'missing', 'p50 ÷ Temporal', 'p99 ÷ Temporal', 'p50 ÷ raw'],
        group.map((l) => [
          l.name,
          ...distCells(l.latency),
          fmt(l.missing + l.errors),
          ratio(l.latency.p50, ceiling?.latency.p50),
          ratio(l.latency.p99, ceiling?.latency.p99),
          ratio(l.latency.p50, raw?.latency.p50),
        ]),
      ),
    );
    const ours = byName(group, 'ours');
    if (ours?.ack)
      out.push(
        `   ours: POST /v1/events → 202: p50 ${ms(ours.ack.p50)}, p99 ${ms(ours.ack.p99)}, max ${ms(ours.ack.max)} ms`,
      );
  }
  if (results.fanOut.length > 0) {
    out.push('', '5. Fan-out: one event to N subscribers');
    out.push(
      table(
        [
          'subscribers',
          '202 ms',
          'first ms',
          'last delivered s',
          'delivered',
          'delivered twice',
          'deliveries/s',
          'svc RSS max MB',
          'history events',
          'history bytes',
          'payload in history',
        ],
        results.fanOut.map((f) => [
          fmt(f.subscribers),
          ms(f.acceptMs),
          ms(f.firstMs),
          fmt(f.lastMs / 1000, 1),
          `${fmt(f.delivered)}${f.complete ? '' : ' (deadline)'}`,
          fmt(f.duplicates),
          fmt(f.complete ? (f.subscribers * 1000) / f.lastMs : Number.NaN),
          fmt(Math.max(...f.samples.map((s) => s.serviceRssMb))),
          fmt(Math.max(...f.histories.map((h) => h.events))),
          fmt(Math.max(...f.histories.map((h) => h.bytes))),
          f.histories.some((h) => h.payloadCopied) ? 'COPIED' : 'no',
        ]),
      ),
    );
  }
  if (results.burst) formatBurst(results.burst, out);
  const s = results.storm;
  if (s) {
    out.push(
      '',
      `6. Retry storm: ${fmt(s.deliveries)} deliveries (${s.events} events × ${s.subscribersPerEvent} subscribers) to a receiver answering 500, then recovery by resend through the API`,
    );
    out.push(
      table(
        [
          'first attempts s',
          results.idleRssMb.api === undefined ? 'waiting: service RSS MB' : 'waiting: worker RSS MB',
          'svc CPU',
          'temporal CPU',
          'temporal RSS MB',
          'resend calls s',
          'drain s',
          'delivered',
          'not delivered',
          'delivered twice',
          'store: succeeded',
        ],
        [
          [
            `${fmt(s.firstAttemptsMs / 1000, 1)}${s.firstAttemptsComplete ? '' : ' (deadline)'}${s.notYetAttempted ? `, ${fmt(s.notYetAttempted)} never attempted` : ''}`,
            fmt(s.waiting.serviceRssMbMax),
            s.waiting.serviceCpuMean.toFixed(2),
            Number.isFinite(s.waiting.temporalCpuMean) ? s.waiting.temporalCpuMean.toFixed(2) : '–',
            fmt(s.waiting.temporalRssMbMax),
            fmt(s.resendCallsMs / 1000, 1),
            fmt(s.drainMs / 1000, 1),
            fmt(s.delivered),
            fmt(s.lost),
            fmt(s.duplicates),
            fmt(s.recordedSucceeded),
          ],
        ],
      ),
    );
  }
  out.push('', 'Targets (2-core machine)');
  out.push(
    table(
      ['target', 'measured', 'met'],
      targets(results).map((t) => [t.target, t.measured, t.met === undefined ? 'not measured' : t.met ? 'yes' : 'NO']),
    ),
  );
  const log = results.temporalServerLog;
  out.push(
    '',
    log
      ? `Temporal server log during the run: ${log.warn} warn, ${log.error} error${log.other ? `, ${log.other} other` : ''} lines; "context deadline exceeded" ${log.deadlineExceeded}, "Slow gRPC call" ${log.slowGrpc}`
      : `Temporal server error lines during the run: ${results.temporalServerErrors}`,
  );
  out.push(`wall time: ${fmt(results.wallMs / 1000, 1)} s`);
  return out.join('\n');
}

// ---------- SVG chart ----------

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];

interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(value: number): number {
  if (!Number.isFinite(value) || value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** One line chart panel at (x, y) of size w × h. */
function panel(
  x: number,
  y: number,
  w: number,
  h: number,
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
  logX = false,
): string {
  const pad = { left: 50, right: 10, top: 24, bottom: 34 };
  const pw = w - pad.left - pad.right;
  const ph = h - pad.top - pad.bottom;
  const xs = series.flatMap((s) => s.points.map((p) => p[0])).filter((v) => !logX || v > 0);
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMin = logX ? 10 ** Math.floor(Math.log10(Math.max(Math.min(...xs), 0.1))) : 0;
  const xMax = logX ? 10 ** Math.ceil(Math.log10(Math.max(...xs, 1))) : niceMax(Math.max(...xs, 1));
  const yMax = niceMax(Math.max(...ys, 1));
  const sx = (v: number): number =>
    logX
      ? ((Math.log10(Math.max(v, xMin)) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * pw
      : (v / xMax) * pw;
  const sy = (v: number): number => ph - (v / yMax) * ph;
  const parts: string[] = [
    `<g transform="translate(${x},${y})">`,
    `<text x="${pad.left}" y="14" font-weight="bold">${escape(title)}</text>`,
    `<g transform="translate(${pad.left},${pad.top})">`,
  ];
  parts.push(`<rect width="${pw}" height="${ph}" fill="none" stroke="#ccc"/>`);
  const xTicks = logX
    ? Array.from({ length: Math.round(Math.log10(xMax / xMin)) + 1 }, (_, i) => xMin * 10 ** i)
    : [0, 0.25, 0.5, 0.75, 1].map((f) => f * xMax);
  for (const tick of xTicks)
    parts.push(
      `<text x="${sx(tick).toFixed(1)}" y="${ph + 14}" text-anchor="middle" font-size="10">${fmt(tick, tick < 1 ? 1 : 0)}</text>`,
    );
  for (const f of [0, 0.5, 1])
    parts.push(
      `<text x="-4" y="${(sy(f * yMax) + 3).toFixed(1)}" text-anchor="end" font-size="10">${fmt(f * yMax, yMax < 5 ? 1 : 0)}</text>`,
    );
  parts.push(`<text x="${pw / 2}" y="${ph + 28}" text-anchor="middle" font-size="11">${escape(xLabel)}</text>`);
  parts.push(
    `<text transform="translate(-38,${ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escape(yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    parts.push(
      `<rect x="${pw - 150}" y="${6 + i * 14}" width="10" height="3" fill="${color}"/><text x="${pw - 136}" y="${10 + i * 14}" font-size="10">${escape(s.name)}</text>`,
    );
  });
  parts.push('</g></g>');
  return parts.join('\n');
}

/** Latency as a CDF: share of requests (y) at or under x ms. */
function cdf(samples: readonly number[]): Array<[number, number]> {
  const sorted = [...samples].sort((a, b) => a - b);
  const step = Math.max(1, Math.floor(sorted.length / 300));
  const points: Array<[number, number]> = [];
  for (let i = 0; i < sorted.length; i += step) points.push([sorted[i] as number, ((i + 1) / sorted.length) * 100]);
  if (sorted.length) points.push([sorted[sorted.length - 1] as number, 100]);
  return points;
}

export function chartSvg(results: RunResults): string {
  const w = 460;
  const h = 260;
  const panels: string[] = [];
  panels.push(
    panel(
      0,
      0,
      w,
      h,
      'Latency at a fixed rate (CDF)',
      'ms, scheduled send → receiver (log)',
      '% of requests',
      results.latency.map((l) => ({ name: `${l.name.replace(/ \(.*\)/, '')} @${l.rate}/s`, points: cdf(l.raw) })),
      true,
    ),
  );
  panels.push(
    panel(
      w,
      0,
      w,
      h,
      'Throughput over time (closed loop)',
      's',
      'deliveries/s',
      results.throughput.map((t) => ({ name: t.name, points: t.timeline.map((v, i) => [i + 0.5, v] as const) })),
    ),
  );
  panels.push(
    panel(
      0,
      h,
      w,
      h,
      'Fan-out: deliveries received',
      's after POST',
      'deliveries',
      results.fanOut.map((f) => {
        const step = Math.max(1, Math.floor(f.arrivals.length / 300));
        const points = f.arrivals.flatMap((t, i) =>
          i % step === 0 || i === f.arrivals.length - 1 ? [[t / 1000, i + 1] as const] : [],
        );
        return { name: `${fmt(f.subscribers)} subscribers`, points };
      }),
    ),
  );
  const memory: Series[] = [];
  const storm = results.storm;
  if (storm) {
    memory.push({ name: 'service RSS MB', points: storm.samples.map((s) => [s.t / 1000, s.serviceRssMb] as const) });
    memory.push({
      name: 'temporal RSS MB',
      points: storm.samples
        .filter((s) => s.temporalRssMb !== undefined)
        .map((s) => [s.t / 1000, s.temporalRssMb ?? 0] as const),
    });
  }
  panels.push(panel(w, h, w, h, 'Retry storm: memory', 's', 'MB', memory));
  const b = results.burst;
  if (b) {
    const perSecond = (key: 'accepted' | 'delivered'): Array<readonly [number, number]> =>
      b.timeline.slice(1).map((p, i) => [p.t, p[key] - (b.timeline[i] as (typeof b.timeline)[number])[key]] as const);
    panels.push(
      panel(0, 2 * h, w, h, 'Burst: events per second', 's from the first POST', 'events/s', [
        { name: 'accepted (202)', points: perSecond('accepted') },
        { name: 'delivered', points: perSecond('delivered') },
        {
          name: 'open workflows',
          points: b.timeline.flatMap((p) => (p.openWorkflows === undefined ? [] : [[p.t, p.openWorkflows] as const])),
        },
      ]),
    );
    panels.push(
      panel(w, 2 * h, w, h, 'Burst: oldest undelivered event', 's from the first POST', 'age, s', [
        { name: 'oldest waiting, s', points: b.timeline.map((p) => [p.t, p.oldestAgeS] as const) },
      ]),
    );
  }
  const rows = b ? 3 : 2;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * w}" height="${rows * h}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${panels.join('\n')}\n</svg>\n`;
}
