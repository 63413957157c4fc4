/**
 * Load shapes. Closed loop: `concurrency` units in flight, each followed at once by the next, for
 * a fixed time (throughput). Open loop: units started on a fixed schedule whatever happens to the
 * earlier ones, latency counted from the scheduled time, so a stall cannot hide behind a slower
 * send rate (no coordinated omission).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves `waitFor(key)` when `arrive(key, at)` is called, or with undefined after a timeout. */
export class Waiters {
  private readonly pending = new Map<string, { resolve: (at: number | undefined) => void; timer: NodeJS.Timeout }>();

  waitFor(key: string, timeoutMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(key, { resolve, timer });
    });
  }

  arrive(key: string, at: number): void {
    const waiter = this.pending.get(key);
    if (!waiter) return;
    this.pending.delete(key);
    clearTimeout(waiter.timer);
    waiter.resolve(at);
  }

  get size(): number {
    return this.pending.size;
  }
}

export interface ClosedLoopResult {
  /** When each unit finished, ms from the start. */
  readonly completions: number[];
  /** Start → finish of each unit, ms. */
  readonly latencies: number[];
  readonly errors: number;
  /** Units that never finished (timed out). */
  readonly missing: number;
  readonly durationMs: number;
}

/**
 * Runs `unit` with `concurrency` in flight for `durationMs`. A unit resolves with the time it
 * finished (performance.now()), undefined when it timed out, or throws.
 */
export async function closedLoop(options: {
  concurrency: number;
  durationMs: number;
  unit: (n: number) => Promise<number | undefined>;
}): Promise<ClosedLoopResult> {
  const completions: number[] = [];
  const latencies: number[] = [];
  let errors = 0;
  let missing = 0;
  let next = 0;
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (performance.now() - t0 < options.durationMs) {
      const n = next++;
      const startedAt = performance.now();
      try {
        const doneAt = await options.unit(n);
        if (doneAt === undefined) missing += 1;
        else {
          completions.push(doneAt - t0);
          latencies.push(doneAt - startedAt);
        }
      } catch {
        errors += 1;
        await sleep(20);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, lane));
  return { completions, latencies, errors, missing, durationMs: options.durationMs };
}

export interface OpenLoopResult {
  /** Scheduled start → finish, ms. */
  readonly latencies: number[];
  /** Send → acknowledgement of each unit (e.g. the API's 202), ms, when the unit reports one. */
  readonly acks: number[];
  readonly errors: number;
  readonly missing: number;
  readonly sent: number;
}

/**
 * Starts `unit` `rate` times a second for `durationMs`, each at its scheduled time. `unit` gets the
 * scheduled time and reports an acknowledgement time (optional) and a finish time.
 */
export async function openLoop(options: {
  rate: number;
  durationMs: number;
  unit: (n: number, scheduledAt: number, ack: (at: number) => void) => Promise<number | undefined>;
}): Promise<OpenLoopResult> {
  const total = Math.floor((options.rate * options.durationMs) / 1000);
  const interval = 1000 / options.rate;
  const latencies: number[] = [];
  const acks: number[] = [];
  let errors = 0;
  let missing = 0;
  const running: Promise<void>[] = [];
  const t0 = performance.now() + 5;
  for (let n = 0; n < total; n += 1) {
    const scheduledAt = t0 + n * interval;
    const wait = scheduledAt - performance.now();
    if (wait > 1) await sleep(wait);
    const sentAt = performance.now();
    running.push(
      options
        .unit(n, scheduledAt, (at) => acks.push(at - sentAt))
        .then(
          (doneAt) => {
            if (doneAt === undefined) missing += 1;
            else latencies.push(doneAt - scheduledAt);
          },
          () => {
            errors += 1;
          },
        ),
    );
  }
  await Promise.all(running);
  return { latencies, acks, errors, missing, sent: total };
}
