interface Pending<T, R> {
  readonly item: T;
  readonly resolve: (result: R | PromiseLike<R>) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Writes (or reads) items in batches: an item added while no write is in flight is written at the
 * next turn of the event loop; items added while one is in flight wait for it and go together in
 * the next. So a lone item costs one statement, as before, and a burst costs a few.
 */
export class Batcher<T, R = void> {
  private pending: Pending<T, R>[] = [];
  private writing = false;

  /**
   * `write`: one statement for the whole batch, returning each item's result in the items' order
   * (or nothing, when R is void); a result may be a settled promise, for an item that failed
   * alone. `maxBatch`: items written together at most. @default 500
   */
  constructor(
    private readonly write: (items: readonly T[]) => Promise<readonly (R | PromiseLike<R>)[] | void>,
    private readonly maxBatch = 500,
  ) {}

  /** Resolves with the item's result once it is written; rejects with its own or its batch's error. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        const results = await this.write(batch.map((entry) => entry.item));
        // R is void exactly when write returns nothing: each item then resolves with undefined.
        batch.forEach((entry, i) => entry.resolve(results?.[i] as R | PromiseLike<R>));
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.writing = false;
  }
}

/**
 * Writes each item by itself, for a batch whose statement was refused: every item's outcome as
 * a settled promise, so that a bad item fails alone and the others are written.
 */
export async function eachAlone<T, R>(items: readonly T[], write: (item: T) => Promise<R>): Promise<Promise<R>[]> {
  const outcomes = items.map((item) => write(item));
  await Promise.allSettled(outcomes);
  return outcomes;
}
