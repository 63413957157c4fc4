/**
 * Retention: removes the events, deliveries and attempts older than WEBHOOKS_RETENTION, run daily by
 * a Temporal Schedule (src/temporal/retention-schedule.ts). It walks deliveries, then events, oldest
 * first, one bounded batch (one activity, one transaction) at a time, and continues as new every
 * hundred batches, so a purge of millions of rows keeps a short history. Then it VACUUMs the tables,
 * so that what it freed is written over again. Cancelling it (the Temporal UI's button) stops it
 * between batches; what was removed stays removed.
 */
import { continueAsNew, log, proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { RemovedCounts, RetentionActivities, RetentionCursor, RetentionTable } from '../activities/retention';
import { formatDuration } from '../core/duration';

/** Rows a batch looks at when the input says nothing. */
const DEFAULT_BATCH_SIZE = 1_000;
/** Batches per run before it continues as new when the input says nothing: about 600 history events. */
const DEFAULT_BATCHES_PER_RUN = 100;
/** The order of the walk: a delivery removed may free its event. */
const TABLES: readonly RetentionTable[] = ['deliveries', 'events'];

const { purgeExpired } = proxyActivities<RetentionActivities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', maximumInterval: '1m' },
  summary: 'purge a batch',
});

/** A VACUUM of a large store takes minutes; its heartbeat tells a lost worker from a long VACUUM. */
const { reclaimSpace } = proxyActivities<RetentionActivities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '1s', maximumInterval: '1m' },
  summary: 'VACUUM',
});

/** Where a purge stands, carried from run to run. */
export interface RetentionProgress {
  /** Rows older than this instant go; fixed for the whole purge (ISO 8601). */
  readonly cutoff: string;
  readonly table: RetentionTable;
  /** Where the next batch in `table` starts; null at its start. */
  readonly after: RetentionCursor | null;
  readonly removed: RemovedCounts;
  readonly batches: number;
}

export interface RetentionInput {
  /** Rows older than this go, ms (WEBHOOKS_RETENTION). */
  readonly retentionMs: number;
  /** Rows a batch looks at, at most. @default 1000 */
  readonly batchSize?: number;
  /** Batches a run makes before it continues as new (each adds about 6 history events). @default 100 */
  readonly batchesPerRun?: number;
  /** Set by the run this one continues; absent when a purge starts. */
  readonly progress?: RetentionProgress;
}

/** What a purge removed, and older than when: the workflow's result. */
export interface RetentionResult {
  readonly retention: string;
  readonly cutoff: string;
  readonly removed: RemovedCounts;
  readonly batches: number;
}

function added(a: RemovedCounts, b: RemovedCounts): RemovedCounts {
  return { events: a.events + b.events, deliveries: a.deliveries + b.deliveries, attempts: a.attempts + b.attempts };
}

/** The purge so far in a line, for the log and the Temporal UI's current details. */
function describe(progress: RetentionProgress, retention: string, state: string): string {
  const { events, deliveries, attempts } = progress.removed;
  return `Older than ${retention} (before ${progress.cutoff}), ${state}: ${events} events, ${deliveries} deliveries, ${attempts} attempts removed in ${progress.batches} batches`;
}

export async function retentionWorkflow(input: RetentionInput): Promise<RetentionResult> {
  const retention = formatDuration(input.retentionMs);
  const limit = input.batchSize ?? DEFAULT_BATCH_SIZE;
  const batchesPerRun = input.batchesPerRun ?? DEFAULT_BATCHES_PER_RUN;
  // Workflow time: the schedule's start of this purge, the same in every replay.
  let progress: RetentionProgress = input.progress ?? {
    cutoff: new Date(Date.now() - input.retentionMs).toISOString(),
    table: TABLES[0] as RetentionTable,
    after: null,
    removed: { events: 0, deliveries: 0, attempts: 0 },
    batches: 0,
  };
  for (let batchesThisRun = 0; ; batchesThisRun += 1) {
    if (batchesThisRun === batchesPerRun || workflowInfo().continueAsNewSuggested) {
      return continueAsNew<typeof retentionWorkflow>({ ...input, progress });
    }
    const batch = await purgeExpired({ table: progress.table, cutoff: progress.cutoff, after: progress.after, limit });
    const nextTable = TABLES[TABLES.indexOf(progress.table) + 1];
    const finished = batch.next === null && nextTable === undefined;
    progress = {
      ...progress,
      table: batch.next === null && nextTable !== undefined ? nextTable : progress.table,
      after: batch.next,
      removed: added(progress.removed, batch.removed),
      batches: progress.batches + 1,
    };
    if (finished) break;
    setCurrentDetails(describe(progress, retention, `removing ${progress.table}`));
  }
  if (progress.removed.deliveries + progress.removed.events > 0) {
    setCurrentDetails(describe(progress, retention, 'reclaiming their space (VACUUM)'));
    await reclaimSpace();
  }
  const summary = describe(progress, retention, 'done');
  setCurrentDetails(summary);
  log.info(summary, { cutoff: progress.cutoff, removed: progress.removed });
  return { retention, cutoff: progress.cutoff, removed: progress.removed, batches: progress.batches };
}
