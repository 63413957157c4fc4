import { setTimeout as delay } from 'node:timers/promises';

export interface FirstAttemptWindowOptions {
  /** Deliveries this process has handed to Temporal whose first attempt is not recorded yet, at most. @default 128 */
  readonly limit?: number;
  /**
   * A delivery leaves the window this long after its hand-off even if still unattempted, ms: by
   * then its first attempt is most likely in flight to a slow receiver, which is no queue in
   * Temporal, and slow receivers must not hold back the rest. @default 1000
   */
  readonly maxWaitMs?: number;
  /** How often the store is asked which deliveries in the window have been attempted, ms. @default 100 */
  readonly pollMs?: number;
  /** The ids among these whose first attempt is recorded, or that ended without one. */
  readonly attempted: (deliveryIds: readonly string[]) => Promise<ReadonlySet<string>>;
  /** Told of a failed look-up (the window then lets deliveries go by age alone). */
  readonly onError?: (error: unknown) => void;
}

/** Deliveries asked about in one look-up at most. */
const LOOKUP_BATCH = 500;

/**
 * Bounds the deliveries handed to Temporal and not yet attempted: the queue that would otherwise
 * build up inside Temporal during a burst (starting a workflow is cheap and fast; running it is
 * not), where its tasks are not handed out oldest first and every open workflow takes the
 * server's memory. With the window full, the next deliveries wait here, and new events wait in
 * the outbox, which the relay dispatches oldest first. The window learns that a delivery was
 * attempted from the store, which every attempt writes, so it follows the workers' progress
 * whichever process runs them.
 */
export class FirstAttemptWindow {
  private readonly limit: number;
  private readonly maxWaitMs: number;
  private readonly pollMs: number;
  /** Places taken: deliveries being handed off, and handed off (id → when). */
  private taken = 0;
  private readonly handedOff = new Map<string, number>();
  private readonly waiters: Array<() => void> = [];
  private polling: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: FirstAttemptWindowOptions) {
    this.limit = options.limit ?? 128;
    this.maxWaitMs = options.maxWaitMs ?? 1_000;
    this.pollMs = options.pollMs ?? 100;
  }

  /** Deliveries waiting for a place. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Places in the window. */
  get size(): number {
    return this.limit;
  }

  /**
   * Runs `handOff` (a workflow start, an enqueue) in a place of the window; the place is kept
   * until the delivery's first attempt is recorded (or maxWaitMs), or given back at once if
   * `handOff` fails.
   */
  async run(deliveryId: string, handOff: () => Promise<void>): Promise<void> {
    if (this.taken < this.limit) this.taken += 1;
    // The place is taken for us by release(), so none is handed out twice.
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      await handOff();
    } catch (error) {
      this.release(1);
      throw error;
    }
    this.handedOff.set(deliveryId, performance.now());
    this.polling ??= this.poll().finally(() => (this.polling = undefined));
  }

  /** Stops looking: every place is given back, and the waiting go through. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.polling;
    this.taken -= this.handedOff.size;
    this.handedOff.clear();
    for (const wake of this.waiters.splice(0)) {
      this.taken += 1;
      wake();
    }
  }

  private async poll(): Promise<void> {
    while (this.handedOff.size > 0 && !this.stopped) {
      await delay(this.pollMs);
      const ids = [...this.handedOff.keys()].slice(0, LOOKUP_BATCH);
      let attempted: ReadonlySet<string> = new Set();
      try {
        attempted = await this.options.attempted(ids);
      } catch (error) {
        this.options.onError?.(error);
      }
      const now = performance.now();
      let freed = 0;
      for (const [id, at] of this.handedOff) {
        if (attempted.has(id) || now - at >= this.maxWaitMs) {
          this.handedOff.delete(id);
          freed += 1;
        }
      }
      this.release(freed);
    }
  }

  private release(places: number): void {
    this.taken -= places;
    while (this.taken < this.limit && this.waiters.length > 0) {
      this.taken += 1;
      this.waiters.shift()?.();
    }
  }
}
