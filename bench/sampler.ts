/**
 * Samples, every `intervalMs`: the service process's RSS and CPU (from itself, over IPC), the
 * Temporal dev server's RSS and CPU and the machine's CPU use (from /proc). Linux only; where
 * /proc is missing the figures are left out.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ServiceStats } from './protocol';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface Sample {
  /** ms from the sampler's start. */
  readonly t: number;
  /** Service process resident memory, MB (in split mode: the worker process). */
  readonly serviceRssMb: number;
  readonly serviceHeapMb: number;
  /** Service CPU over the last interval, in cores (1 = one core busy); in split mode worker + API. */
  readonly serviceCpu: number;
  /** In split mode, the API process's resident memory, MB. */
  readonly apiRssMb?: number;
  readonly temporalRssMb?: number;
  readonly temporalCpu?: number;
  /** Whole machine CPU over the last interval, in cores. */
  readonly machineCpu?: number;
}

function readMachineTicks(): { busy: number; total: number } | undefined {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

function readProcess(pid: number): { cpuTicks: number; rssMb: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(fields[11]) + Number(fields[12]);
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuTicks, rssMb: rss ? Number(rss[1]) / 1024 : Number.NaN };
  } catch {
    return undefined;
  }
}

/** The pid of this process's child running `comm` (e.g. the `temporal` dev server). */
export function findChildPid(comm: string): number | undefined {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (name === comm && ppid === process.pid) return Number(entry);
      } catch {
        // the process ended while we looked
      }
    }
  } catch {
    // no /proc
  }
  return undefined;
}

export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private last: {
    at: number;
    service?: ServiceStats;
    api?: ServiceStats;
    temporalTicks?: number;
    machine?: { busy: number; total: number };
  } = { at: 0 };
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly serviceStats: () => Promise<ServiceStats>,
    private readonly temporalPid: number | undefined,
    /** Split mode: the API process, whose CPU counts as the service's too. */
    private readonly apiStats?: () => Promise<ServiceStats>,
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    this.samples.length = 0;
    this.t0 = performance.now();
    this.last = { at: 0 };
    const tick = (): void => {
      this.inFlight ??= this.take().finally(() => {
        this.inFlight = undefined;
      });
    };
    tick();
    this.timer = setInterval(tick, this.intervalMs);
  }

  async stop(): Promise<Sample[]> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    return [...this.samples];
  }

  private async take(): Promise<void> {
    const at = performance.now();
    const service = await this.serviceStats().catch(() => undefined);
    const api = await this.apiStats?.().catch(() => undefined);
    const temporal = this.temporalPid === undefined ? undefined : readProcess(this.temporalPid);
    const machine = readMachineTicks();
    const previous = this.last;
    this.last = {
      at,
      ...(service ? { service } : {}),
      ...(api ? { api } : {}),
      ...(temporal ? { temporalTicks: temporal.cpuTicks } : {}),
      ...(machine ? { machine } : {}),
    };
    if (!service || !previous.service) return;
    const seconds = (service.at - previous.service.at) / 1000;
    const cpuOf = (stats: ServiceStats): number => stats.cpuUserUs + stats.cpuSystemUs;
    const cpuUs =
      cpuOf(service) - cpuOf(previous.service) + (api && previous.api ? cpuOf(api) - cpuOf(previous.api) : 0);
    const wall = (at - previous.at) / 1000;
    const sample: Sample = {
      t: Math.round(at - this.t0),
      serviceRssMb: service.rss / 2 ** 20,
      serviceHeapMb: service.heapUsed / 2 ** 20,
      serviceCpu: seconds > 0 ? cpuUs / 1e6 / seconds : 0,
      ...(api ? { apiRssMb: api.rss / 2 ** 20 } : {}),
      ...(temporal && previous.temporalTicks !== undefined && wall > 0
        ? {
            temporalRssMb: temporal.rssMb,
            temporalCpu: (temporal.cpuTicks - previous.temporalTicks) / TICKS_PER_SECOND / wall,
          }
        : {}),
      ...(machine && previous.machine && machine.total > previous.machine.total
        ? {
            machineCpu:
              ((machine.busy - previous.machine.busy) / (machine.total - previous.machine.total)) *
              availableParallelism(),
          }
        : {}),
    };
    this.samples.push(sample);
  }
}
