interface Pending<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Writes items in batches: an item added while no write is in flight is written at the next
 * turn of the event loop; items added while one is in flight wait for it and go together in the
 * next. So a lone item costs one write, as before, and a burst costs a few.
 */
export class Batcher<T> {
  private pending: Pending<T>[] = [];
  private writing = false;

  /** `write`: one statement for the whole batch. `maxBatch`: items written together at most. @default 500 */
  constructor(
    private readonly write: (items: readonly T[]) => Promise<void>,
    private readonly maxBatch = 500,
  ) {}

  /** Resolves once the item is written; rejects with its batch's error. */
  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
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
        await this.write(batch.map((entry) => entry.item));
        for (const entry of batch) entry.resolve();
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.writing = false;
  }
}
