/**
 * Retention's side effects: removing expired rows from the store, one bounded batch per call. The
 * store reaches them through the port below (RetentionRecords, implemented by src/store/retention.ts);
 * workflows/retention.ts decides which batch comes next.
 */
import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';

/** The tables retention walks, in the order it walks them: deliveries first frees their events. */
export type RetentionTable = 'deliveries' | 'events';

/** Where a walk through a table stands: the last row a batch looked at, in (created_at, id) order. */
export interface RetentionCursor {
  /** The row's created_at as the store writes it (microseconds kept, so no row is looked at twice). */
  readonly createdAt: string;
  readonly id: string;
}

/** Rows removed, by table. */
export interface RemovedCounts {
  readonly events: number;
  readonly deliveries: number;
  readonly attempts: number;
}

export interface PurgeBatchInput {
  readonly table: RetentionTable;
  /** Rows created (and, for a delivery, last changed) before this instant expire; ISO 8601. */
  readonly cutoff: string;
  /** Where the previous batch stopped; null for the first. */
  readonly after: RetentionCursor | null;
  /** Rows looked at in this batch, at most. */
  readonly limit: number;
}

export interface PurgeBatchResult {
  /** Rows looked at (expired or kept). */
  readonly scanned: number;
  readonly removed: RemovedCounts;
  /** Where the next batch starts; null when the table has no older row left to look at. */
  readonly next: RetentionCursor | null;
}

/**
 * What retention needs of the store. Each call is one transaction over at most `limit` rows of
 * the table, created before the cutoff, after the cursor:
 * - deliveries: removes those that have ended (not pending) and not changed since the cutoff, with
 *   their attempts;
 * - events: removes those whose deliveries are all written and started (the outbox is done with
 *   them) and none of whose deliveries is left.
 * A row another transaction holds is left for the next run.
 */
export interface RetentionRecords {
  purgeBatch(input: PurgeBatchInput): Promise<PurgeBatchResult>;
  /**
   * Makes the space of removed rows reusable (VACUUM), so the store stops growing once retention
   * removes as much as is written. PGlite runs no autovacuum: without this it grows for ever.
   */
  reclaimSpace(): Promise<void>;
}

/** While a VACUUM runs, the activity tells Temporal it is alive this often. */
const RECLAIM_HEARTBEAT_MS = 10_000;

/** The retention activities, wired to the store. */
export function createRetentionActivities(deps: { readonly retention: RetentionRecords; readonly logger: Logger }) {
  return {
    /** One batch of the purge; logged at debug (the workflow logs the whole purge at info). */
    async purgeExpired(input: PurgeBatchInput): Promise<PurgeBatchResult> {
      const result = await deps.retention.purgeBatch(input);
      deps.logger.debug(
        { table: input.table, cutoff: input.cutoff, scanned: result.scanned, removed: result.removed },
        'retention batch',
      );
      return result;
    },
    /** The VACUUM after a purge: one statement that may take minutes on a large store, heartbeating meanwhile. */
    async reclaimSpace(): Promise<void> {
      const heartbeat = setInterval(() => Context.current().heartbeat(), RECLAIM_HEARTBEAT_MS);
      try {
        await deps.retention.reclaimSpace();
      } finally {
        clearInterval(heartbeat);
      }
    },
  };
}

export type RetentionActivities = ReturnType<typeof createRetentionActivities>;
