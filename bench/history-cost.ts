/**
 * What one workflow costs Temporal, read from its history: events, visibility writes and the
 * billable Actions Temporal Cloud would charge for it.
 *
 * Actions, as Temporal documents them ("Temporal Cloud Actions", docs.temporal.io/cloud/actions),
 * counted from the history:
 *  - workflow started: 1 (search attributes given at the start are part of it, not an Action);
 *  - each UpsertWorkflowSearchAttributes: 1, unless it sets only TemporalChangeVersion (exempt);
 *  - local activities: all the markers recorded by one workflow task count as 1 Action together
 *    ("all RecordMarkers from each Workflow Task as one action"), plus 1 per local activity
 *    attempt after the first in a later task (WorkflowTaskCompleted's metering metadata,
 *    `nonfirst_local_activity_execution_attempts`);
 *  - each activity scheduled: 1, and each retry: 1 (the attempt number on ActivityTaskStarted, − 1);
 *  - each timer started, signal received, update accepted, options update: 1; a child workflow
 *    initiated: 2;
 *  - not visible in a history, so not counted: workflow task heartbeats (a long local activity),
 *    queries, activity heartbeats, rejected updates.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const EventType = temporal.api.enums.v1.EventType;

/** Search attribute the SDKs set for patches; Temporal Cloud does not bill its upserts. */
const CHANGE_VERSION = 'TemporalChangeVersion';

export interface HistoryCost {
  readonly workflowId: string;
  readonly events: number;
  /** The serialized history, bytes. */
  readonly bytes: number;
  /** Event types in order, without the EVENT_TYPE_ prefix. */
  readonly eventTypes: string[];
  /**
   * Writes to the visibility store: the start's record, one per search-attribute upsert (and memo
   * change), and the close's record when the workflow has closed.
   */
  readonly visibility: { readonly start: number; readonly upserts: number; readonly close: number };
  /** The search attributes each upsert set, in order. */
  readonly upsertKeys: string[][];
  /** Billable Actions (rules above), by kind. */
  readonly actions: Record<string, number>;
  readonly actionsTotal: number;
  /** True when the delivery's first attempt ran as a local activity and no activity task or timer followed. */
  readonly firstAttemptOnly: boolean;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

function typeName(event: HistoryEvent): string {
  return (EventType[event.eventType ?? 0] ?? String(event.eventType)).replace(/^EVENT_TYPE_/, '');
}

/** Counts the costs of one history (pure; see the rules at the top of the file). */
export function historyCost(workflowId: string, events: readonly HistoryEvent[], bytes: number): HistoryCost {
  const actions: Record<string, number> = {};
  const add = (kind: string, n = 1): void => {
    if (n > 0) actions[kind] = (actions[kind] ?? 0) + n;
  };
  const markerTasks = new Set<string>();
  let upserts = 0;
  const upsertKeys: string[][] = [];
  let close = 0;
  let activityTasks = 0;
  let timers = 0;
  let localMarkers = 0;
  for (const event of events) {
    switch (event.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        add('workflow started');
        break;
      case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        upserts += 1;
        const keys = Object.keys(
          event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {},
        );
        upsertKeys.push(keys);
        if (keys.some((key) => key !== CHANGE_VERSION)) add('search attribute upsert');
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
        upserts += 1;
        break;
      case EventType.EVENT_TYPE_MARKER_RECORDED: {
        const attributes = event.markerRecordedEventAttributes;
        if (attributes?.markerName === 'core_local_activity') localMarkers += 1;
        markerTasks.add(String(attributes?.workflowTaskCompletedEventId ?? event.eventId));
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        add(
          'local activity retry',
          Number(
            event.workflowTaskCompletedEventAttributes?.meteringMetadata?.nonfirstLocalActivityExecutionAttempts ?? 0,
          ),
        );
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        activityTasks += 1;
        add('activity scheduled');
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        add('activity retry', Number(event.activityTaskStartedEventAttributes?.attempt ?? 1) - 1);
        break;
      case EventType.EVENT_TYPE_TIMER_STARTED:
        timers += 1;
        add('timer started');
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        add('signal');
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        add('update accepted');
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
        add('options updated');
        break;
      case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        add('child workflow', 2);
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        close = 1;
        break;
      default:
        break;
    }
  }
  add('markers (one per workflow task)', markerTasks.size);
  return {
    workflowId,
    events: events.length,
    bytes,
    eventTypes: events.map(typeName),
    visibility: { start: 1, upserts, close },
    upsertKeys,
    actions,
    actionsTotal: Object.values(actions).reduce((a, b) => a + b, 0),
    firstAttemptOnly: localMarkers === 1 && activityTasks === 0 && timers === 0,
  };
}

/** Reads a workflow's history through the client and counts its costs. */
export async function readHistoryCost(client: Client, workflowId: string): Promise<HistoryCost> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const bytes = temporal.api.history.v1.History.encode(history).finish().length;
  return historyCost(workflowId, history.events ?? [], bytes);
}
