/**
 * The Temporal Schedule that runs the retention workflow (workflows/retention.ts) daily. Every
 * worker process (`npm start`, `npm run worker`, compose's worker) makes sure it exists at start,
 * so several may race: one creates it, the others find it, and a process whose WEBHOOKS_RETENTION
 * or task queue differs from the schedule's brings the schedule's action up to date.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import { formatDuration } from '../../core/duration';
import { retentionWorkflow } from '../../workflows';

/** One schedule per namespace: its id is fixed, so creating it twice makes one. */
export const RETENTION_SCHEDULE_ID = 'webhooks-retention';

/** Runs of the schedule are `retention-<time of the run>` (Temporal appends the time). */
const RETENTION_WORKFLOW_ID = 'retention';

export interface RetentionScheduleSettings {
  /** The workers' task queue, where the retention workflow runs. */
  readonly taskQueue: string;
  /** WEBHOOKS_RETENTION, ms. */
  readonly retentionMs: number;
}

/** What ensureRetentionSchedule did. */
export type RetentionScheduleChange = 'created' | 'updated' | 'unchanged';

type RetentionAction = ScheduleOptionsStartWorkflowAction<typeof retentionWorkflow>;

function retentionAction(settings: RetentionScheduleSettings): RetentionAction {
  return {
    type: 'startWorkflow',
    workflowType: retentionWorkflow,
    workflowId: RETENTION_WORKFLOW_ID,
    taskQueue: settings.taskQueue,
    args: [{ retentionMs: settings.retentionMs }],
    staticSummary: `Remove events, deliveries and attempts older than ${formatDuration(settings.retentionMs)}`,
  };
}

/** Whether the schedule's action already runs the workflow these settings ask for. */
function actionMatches(
  current: { readonly taskQueue?: string | undefined; readonly args?: readonly unknown[] | undefined },
  wanted: RetentionAction,
): boolean {
  return current.taskQueue === wanted.taskQueue && JSON.stringify(current.args) === JSON.stringify(wanted.args);
}

/**
 * Creates the retention schedule (daily at 03:00 UTC; a run still going when the next is due makes
 * that one skip; a run missed while Temporal was down is made up within a day), or, when it exists,
 * updates its action to these settings if they differ. An operator's changes to its spec or state
 * (another time, paused) are kept.
 */
export async function ensureRetentionSchedule(
  client: Client,
  settings: RetentionScheduleSettings,
): Promise<RetentionScheduleChange> {
  const action = retentionAction(settings);
  try {
    await client.schedule.create({
      scheduleId: RETENTION_SCHEDULE_ID,
      spec: { calendars: [{ hour: 3, minute: 0, comment: 'daily at 03:00 UTC' }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' },
    });
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  const handle = client.schedule.getHandle(RETENTION_SCHEDULE_ID);
  if (actionMatches((await handle.describe()).action, action)) return 'unchanged';
  await handle.update<typeof retentionWorkflow>((previous) => ({ ...previous, action }));
  return 'updated';
}
