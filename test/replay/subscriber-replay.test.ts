/**
 * The current workflow code must keep replaying the histories of subscriber workflows (throughput
 * mode) already running, and of the delivery workflows they hand deliveries to. The histories in
 * histories/subscriber/ were recorded by record-subscriber.ts (the real workflow code on real
 * Temporal servers, with mocked activities) and are committed: this test replays those files, it
 * never records.
 */
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { quietRuntime } from '../helpers/temporal-env';
import { DeterminismViolationError } from '@temporalio/workflow';
import { deliveryWorkflowId, subscriberWorkflowId } from '../../core/workflow-ids';
import type { DeliveryWorkflowInput } from '../../workflows/messages';
import type { SubscriberWorkflowInput } from '../../workflows/subscriber-messages';
import { workflowBundle } from '../helpers/harness';
import { HISTORIES_DIR, loadHistories, type RecordedHistory } from './histories';
import { SUBSCRIBER_HISTORIES } from './record-subscriber';

const SUBSCRIBER_HISTORIES_DIR = path.join(HISTORIES_DIR, 'subscriber');

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

let histories: RecordedHistory[];

beforeAll(() => {
  quietRuntime();
  histories = loadHistories(SUBSCRIBER_HISTORIES_DIR);
});

/** Replays the histories; returns the errors by history name (empty when all replay). */
async function replay(recorded: readonly RecordedHistory[]): Promise<Record<string, unknown>> {
  const errors: Record<string, unknown> = {};
  const byId = new Map(recorded.map((h) => [h.workflowId, h.name]));
  const results = Worker.runReplayHistories(
    { workflowBundle: await workflowBundle(), replayName: 'subscriber-replay-test' },
    recorded.map(({ workflowId, history }) => ({ workflowId, history })),
  );
  for await (const result of results) {
    if (result.error) errors[byId.get(result.workflowId) ?? result.workflowId] = result.error;
  }
  return errors;
}

function history(name: keyof typeof SUBSCRIBER_HISTORIES): RecordedHistory {
  const found = histories.find((h) => h.name === name);
  if (!found) throw new Error(`no recorded history ${name}`);
  return found;
}

/** The input a history's run was started with. */
function inputOf<T>(run: HistoryEvent[]): T {
  const payload = run[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error('a run started with no input');
  return defaultPayloadConverter.fromPayload<T>(payload);
}

const events = (name: keyof typeof SUBSCRIBER_HISTORIES): HistoryEvent[] => history(name).history.events ?? [];

test('every recorded history is present, of the workflow it says', () => {
  expect(histories.map((h) => h.name).sort()).toEqual(Object.keys(SUBSCRIBER_HISTORIES).sort());
  for (const h of histories) {
    const type = h.name.endsWith('-delivery') ? 'deliveryWorkflow' : 'subscriberWorkflow';
    expect({ name: h.name, type: h.workflowType }).toEqual({ name: h.name, type });
  }
});

test('the histories hold what the subscriber workflow does: hand-offs, cancels, continue-as-new', () => {
  const handedOn = events('handed-on');
  const { subscriptionId } = inputOf<SubscriberWorkflowInput>(handedOn);
  const handedTo = handedOn.flatMap((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? []);
  expect(handedTo).toHaveLength(2);
  expect(handedOn.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(2);
  expect(handedOn.at(-1)?.workflowExecutionCompletedEventAttributes).toBeTruthy();
  for (const name of ['handed-on.retried-delivery', 'handed-on.rejected-delivery'] as const) {
    const child = events(name);
    const input = inputOf<DeliveryWorkflowInput>(child);
    expect(child[0]?.workflowExecutionStartedEventAttributes?.parentWorkflowExecution?.workflowId).toBe(
      subscriberWorkflowId(subscriptionId),
    );
    expect(handedTo).toContain(deliveryWorkflowId(input.eventId, subscriptionId));
    expect(input.firstAttempt?.kind).toBe(name === 'handed-on.retried-delivery' ? 'retry' : 'final');
  }
  expect(events('handed-on.retried-delivery').some((e) => e.activityTaskCompletedEventAttributes)).toBe(true);
  expect(events('handed-on.rejected-delivery').at(-1)?.workflowExecutionFailedEventAttributes).toBeTruthy();

  const cancels = events('cancel-queued').filter(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'cancelQueued',
  );
  expect(cancels).toHaveLength(3);

  // The attempts in flight were committed in a workflow task before the one that continued as new.
  const continued = events('continued-as-new');
  expect(continued.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
  expect(continued.some((e) => e.workflowTaskStartedEventAttributes?.suggestContinueAsNew)).toBe(true);
  const afterLastMarker = continued.slice(continued.findLastIndex((e) => e.markerRecordedEventAttributes) + 1, -1);
  expect(afterLastMarker.some((e) => e.timerFiredEventAttributes)).toBe(true);
  expect(afterLastMarker.some((e) => e.workflowTaskCompletedEventAttributes)).toBe(true);
  const nextRun = events('continued-as-new.next-run');
  expect(inputOf<SubscriberWorkflowInput>(nextRun).queued?.length).toBeGreaterThan(0);
  expect(nextRun[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId).toBeTruthy();
});

test('the current workflow code replays every recorded history', async () => {
  expect(await replay(histories)).toEqual({});
}, 120_000);

test('a history the code did not write is caught as non-determinism (the replay has teeth)', async () => {
  const altered = loadHistories(SUBSCRIBER_HISTORIES_DIR).find((h) => h.name === 'handed-on');
  const initiated = altered?.history.events?.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
  if (!altered || !initiated?.startChildWorkflowExecutionInitiatedEventAttributes) throw new Error('no child started');
  initiated.startChildWorkflowExecutionInitiatedEventAttributes.workflowId = 'delivery/evt_other/sub_other';
  const errors = await replay([altered]);
  expect(Object.keys(errors)).toEqual(['handed-on']);
  expect(errors['handed-on']).toBeInstanceOf(DeterminismViolationError);
}, 120_000);
