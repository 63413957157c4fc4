/**
 * Memory of every process of a run, sampled from /proc: PSS (proportional set size, from
 * /proc/<pid>/smaps_rollup), so that pages two processes share (libraries, PostgreSQL's shared
 * buffers) are counted once across them and the processes can be summed; RSS from
 * /proc/<pid>/status where smaps_rollup cannot be read. Linux only; elsewhere nothing is sampled.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** A process (or a group of them, e.g. a PostgreSQL server and its backends) to sample. */
export interface WatchedProcess {
  readonly name: string;
  /** Its pids now; called at every sample, so a group may grow and shrink. */
  readonly pids: () => readonly number[];
}

export interface MemoryReading {
  readonly mb: number;
  /** `pss` when every pid's smaps_rollup was read, `rss` when at least one fell back to RSS. */
  readonly source: 'pss' | 'rss';
}

/** PSS of one process, MB; its RSS when smaps_rollup is unreadable; undefined when it is gone. */
export function processMemory(pid: number): MemoryReading | undefined {
  try {
    const pss = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    if (pss) return { mb: Number(pss[1]) / 1024, source: 'pss' };
  } catch {
    // no smaps_rollup (kernel before 4.14, or not readable): RSS below
  }
  try {
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return rss ? { mb: Number(rss[1]) / 1024, source: 'rss' } : undefined;
  } catch {
    return undefined;
  }
}

/** The command name and parent pid of a process. */
function statOf(pid: number): { comm: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return {
      comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
      ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]),
    };
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * The PostgreSQL server listening on `port` (found by its postmaster.pid, whose fourth line is the
 * port) and its backends: the server runs daemonized, outside this process's tree, and other
 * servers (other test runs) may run beside it.
 */
export function postgresPids(port: number): () => number[] {
  let postmaster: number | undefined;
  const find = (): number | undefined => {
    for (const pid of allPids()) {
      if (statOf(pid)?.comm !== 'postgres') continue;
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const dataDir = args[args.indexOf('-D') + 1];
        if (!args.includes('-D') || !dataDir) continue;
        const lines = readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n');
        if (Number(lines[0]) === pid && Number(lines[3]) === port) return pid;
      } catch {
        // not readable, or not a postmaster
      }
    }
    return undefined;
  };
  return () => {
    if (postmaster === undefined || !statOf(postmaster)) postmaster = find();
    if (postmaster === undefined) return [];
    const server = postmaster;
    return [server, ...allPids().filter((pid) => statOf(pid)?.ppid === server)];
  };
}

export interface MemorySample {
  /** ms from the sampler's start. */
  readonly t: number;
  /** MB by process name. */
  readonly byProcess: Record<string, number>;
  readonly sumMb: number;
}

export interface MemoryPeaks {
  readonly intervalMs: number;
  /** Highest reading of each process, MB, and where it came from. */
  readonly peakMb: Record<string, MemoryReading>;
  /** Highest sum over all processes at one sample, MB (not the sum of the peaks). */
  readonly peakSumMb: number;
  /** The same for the processes named in `systemNames` (the service and Temporal: what is deployed). */
  readonly peakSystemMb: number;
  readonly systemNames: readonly string[];
  /** The first sample, before the load. */
  readonly firstSumMb: number;
  readonly samples: MemorySample[];
}

/** Samples every watched process's memory every `intervalMs` until stopped. */
export class MemorySampler {
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private samples: MemorySample[] = [];
  private peaks: Record<string, MemoryReading> = {};
  private peakSystem = 0;
  private last: MemoryPeaks | undefined;

  constructor(
    private readonly processes: readonly WatchedProcess[],
    /** Names whose sum is the system under test, for `peakSystemMb`. */
    private readonly systemNames: readonly string[],
    private readonly intervalMs = 1_000,
  ) {}

  start(): void {
    clearInterval(this.timer);
    this.last = undefined;
    this.samples = [];
    this.peaks = {};
    this.peakSystem = 0;
    this.t0 = performance.now();
    this.take();
    this.timer = setInterval(() => this.take(), this.intervalMs);
  }

  /** Stops sampling (after one last sample); a second call answers the same. */
  stop(): MemoryPeaks {
    if (this.last) return this.last;
    clearInterval(this.timer);
    this.timer = undefined;
    this.take();
    this.last = {
      intervalMs: this.intervalMs,
      peakMb: { ...this.peaks },
      peakSumMb: Math.max(0, ...this.samples.map((s) => s.sumMb)),
      peakSystemMb: this.peakSystem,
      systemNames: this.systemNames,
      firstSumMb: this.samples[0]?.sumMb ?? Number.NaN,
      samples: this.samples,
    };
    return this.last;
  }

  private take(): void {
    const byProcess: Record<string, number> = {};
    let sumMb = 0;
    let systemMb = 0;
    for (const process of this.processes) {
      let mb = 0;
      let source: MemoryReading['source'] = 'pss';
      let seen = false;
      for (const pid of process.pids()) {
        const reading = processMemory(pid);
        if (!reading) continue;
        seen = true;
        mb += reading.mb;
        if (reading.source === 'rss') source = 'rss';
      }
      if (!seen) continue;
      byProcess[process.name] = Math.round(mb * 10) / 10;
      sumMb += mb;
      if (this.systemNames.includes(process.name)) systemMb += mb;
      const peak = this.peaks[process.name];
      if (!peak || mb > peak.mb) this.peaks[process.name] = { mb, source };
    }
    this.peakSystem = Math.max(this.peakSystem, systemMb);
    this.samples.push({ t: Math.round(performance.now() - this.t0), byProcess, sumMb: Math.round(sumMb * 10) / 10 });
  }
}
