import { performance } from 'node:perf_hooks';

export interface StartGateOptions {
  /** Workflow starts in flight at first. @default 16 */
  readonly initial?: number;
  /** Fewest starts in flight the gate shrinks to. @default 2 */
  readonly min?: number;
  /** Most starts in flight the gate grows to. @default 128 */
  readonly max?: number;
  /**
   * A start answered slower than this means Temporal is saturated: the gate lets fewer through.
   * @default 250 (ms)
   */
  readonly targetLatencyMs?: number;
}

/**
 * Bounds the workflow starts in flight from this process, adaptively (additive increase,
 * multiplicative decrease on start latency, as TCP does on loss): while Temporal answers starts
 * within the target, one more start may be in flight per round of starts; a slow or failed start
 * cuts the bound by a fifth, at most once per target latency. A burst of events then waits in
 * the outbox, oldest first, instead of piling starts on a server that can no longer run the
 * workflows it has.
 */
export class StartGate {
  private limit: number;
  private inFlight = 0;
  private readonly waiters: Array<() => void> = [];
  private lastCutAt = 0;
  private readonly min: number;
  private readonly max: number;
  private readonly targetLatencyMs: number;

  constructor(options: StartGateOptions = {}) {
    this.min = options.min ?? 2;
    this.max = options.max ?? 128;
    this.limit = Math.min(this.max, Math.max(this.min, options.initial ?? 16));
    this.targetLatencyMs = options.targetLatencyMs ?? 250;
  }

  /** Starts that may be in flight now. */
  get bound(): number {
    return Math.floor(this.limit);
  }

  /** Starts waiting for a place. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Runs `start` once a place is free, and learns from how long it took. */
  async run<T>(start: () => Promise<T>): Promise<T> {
    if (this.inFlight < this.bound) this.inFlight += 1;
    // The place is taken for us by release(), so none is handed out twice.
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    const startedAt = performance.now();
    let ok = false;
    try {
      const result = await start();
      ok = true;
      return result;
    } finally {
      this.learn(performance.now() - startedAt, ok);
      this.release();
    }
  }

  private learn(latencyMs: number, ok: boolean): void {
    const now = performance.now();
    if (ok && latencyMs <= this.targetLatencyMs) {
      this.limit = Math.min(this.max, this.limit + 1 / this.limit);
    } else if (now - this.lastCutAt >= this.targetLatencyMs) {
      this.limit = Math.max(this.min, this.limit * 0.8);
      this.lastCutAt = now;
    }
  }

  private release(): void {
    this.inFlight -= 1;
    while (this.inFlight < this.bound && this.waiters.length > 0) {
      this.inFlight += 1;
      this.waiters.shift()?.();
    }
  }
}
