import { setTimeout as delay } from 'node:timers/promises';

export interface FirstAttemptWindowOptions {
  /** Deliveries this process has handed to Temporal whose first attempt is not recorded yet, at most. @default 128 */
  readonly limit?: number;
  /**
   * Places one target (a subscription, or the callback deliveries) may hold at most, so that a
   * receiver that hangs until the attempt timeout cannot take the window from the others.
   * @default a quarter of the limit
   */
  readonly perTargetLimit?: number;
  /**
   * A delivery leaves the window this long after its hand-off even if no attempt is recorded,
   * ms: its first attempt has then ended one way or another (the dispatcher gives the attempt
   * timeout and some), or the write of its outcome failed; the window must not wait for ever.
   * A shorter bound lets the queue grow in Temporal again whenever the workers fall that far
   * behind (measured: with 1 s, 3,600 workflows open in a burst). @default 20000
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

interface Waiter {
  readonly target: string;
  readonly resolve: () => void;
}

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
  private readonly perTargetLimit: number;
  private readonly maxWaitMs: number;
  private readonly pollMs: number;
  /** Places taken, in all and by target: deliveries being handed off, and handed off. */
  private taken = 0;
  private readonly takenBy = new Map<string, number>();
  /** Handed off and not yet seen attempted: id → its target and when. */
  private readonly handedOff = new Map<string, { readonly target: string; readonly at: number }>();
  private readonly waiters: Waiter[] = [];
  private polling: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: FirstAttemptWindowOptions) {
    this.limit = options.limit ?? 128;
    this.perTargetLimit = options.perTargetLimit ?? Math.max(1, Math.floor(this.limit / 4));
    this.maxWaitMs = options.maxWaitMs ?? 20_000;
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
   * `handOff` fails. `target` names the receiver (see perTargetLimit).
   */
  async run(deliveryId: string, target: string, handOff: () => Promise<void>): Promise<void> {
    if (this.fits(target)) this.take(target);
    // The place is taken for us by grant(), so none is handed out twice.
    else await new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    try {
      await handOff();
    } catch (error) {
      this.release(target);
      this.grant();
      throw error;
    }
    this.handedOff.set(deliveryId, { target, at: performance.now() });
    this.polling ??= this.poll().finally(() => (this.polling = undefined));
  }

  /** Stops looking: every place is given back, and the waiting go through. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.polling;
    for (const { target } of this.handedOff.values()) this.release(target);
    this.handedOff.clear();
    for (const waiter of this.waiters.splice(0)) {
      this.take(waiter.target);
      waiter.resolve();
    }
  }

  private fits(target: string): boolean {
    return this.taken < this.limit && (this.takenBy.get(target) ?? 0) < this.perTargetLimit;
  }

  private take(target: string): void {
    this.taken += 1;
    this.takenBy.set(target, (this.takenBy.get(target) ?? 0) + 1);
  }

  private release(target: string): void {
    this.taken -= 1;
    const left = (this.takenBy.get(target) ?? 1) - 1;
    if (left > 0) this.takenBy.set(target, left);
    else this.takenBy.delete(target);
  }

  /** Hands free places to the waiters, oldest first among those whose target has room. */
  private grant(): void {
    for (let i = 0; i < this.waiters.length && this.taken < this.limit;) {
      const waiter = this.waiters[i] as Waiter;
      if (!this.fits(waiter.target)) {
        i += 1;
        continue;
      }
      this.waiters.splice(i, 1);
      this.take(waiter.target);
      waiter.resolve();
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
      for (const [id, { target, at }] of this.handedOff) {
        if (attempted.has(id) || now - at >= this.maxWaitMs) {
          this.handedOff.delete(id);
          this.release(target);
        }
      }
      this.grant();
    }
  }
}
