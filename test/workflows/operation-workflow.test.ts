/**
 * operationWorkflow on its own: the real workflow code on a real Temporal dev server, with its
 * two activities replaced by scripted mocks of the same names and signatures (no store, no
 * deliveries). It continues as new every 100 batches, carrying its progress, so a long operation
 * keeps each run's history short; cancelled, it lets the batch in flight end, records the
 * operation cancelled and ends Canceled; a batch that keeps failing records it failed.
 */
import { randomUUID } from 'node:crypto';
import { CancelledFailure, Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { OperationActivities, OperationBatchOutcome, OperationProgress } from '../../activities/operations';
import type { OperationStatus } from '../../core/model';
import { OPERATION_DONE, OPERATION_REMAINING } from '../../core/search-attributes';
import type { operationWorkflow } from '../../workflows';
import { operationProgressQuery, type OperationWorkflowInput } from '../../workflows/operation-messages';
import { workflowBundle } from '../helpers/harness';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await createTestTemporal();
}, 60_000);

afterAll(async () => {
  await env?.teardown();
});

const progress = (status: OperationStatus, matched: number, done: number): OperationProgress => ({
  status,
  matched,
  done,
  remaining: Math.max(0, matched - done),
});

/** Runs `body` with a worker whose operation activities are `mocks`. */
async function withWorker<T>(
  mocks: Pick<OperationActivities, 'runOperationBatch' | 'finishOperation'>,
  body: (taskQueue: string) => Promise<T>,
): Promise<T> {
  const taskQueue = `operation-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: mocks,
  });
  return worker.runUntil(body(taskQueue));
}

function start(taskQueue: string, matched: number) {
  const operationId = `op_${randomUUID()}`;
  const input: OperationWorkflowInput = {
    operationId,
    kind: 'recover',
    subscriptionId: 'sub_test',
    progress: progress('running', matched, 0),
  };
  return env.client.workflow.start<typeof operationWorkflow>('operationWorkflow', {
    workflowId: `recover/${operationId}`,
    taskQueue,
    args: [input],
  });
}

test('250 batches: it continues as new twice, carrying its progress, and completes', async () => {
  const batches = 250;
  let taken = 0;
  const ended: OperationStatus[] = [];
  await withWorker(
    {
      async runOperationBatch(): Promise<OperationBatchOutcome> {
        taken += 1;
        return { progress: progress('running', batches, taken), finished: taken === batches };
      },
      async finishOperation({ status }) {
        ended.push(status);
        return progress(status, taken, taken);
      },
    },
    async (taskQueue) => {
      const handle = await start(taskQueue, batches);
      expect(await handle.result()).toEqual(progress('completed', batches, batches));
      expect(ended).toEqual(['completed']);

      // Its first run made 100 batches, then continued as new with the progress so far.
      const first = await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
      const events = first.events ?? [];
      expect(events.filter((event) => event.activityTaskCompletedEventAttributes)).toHaveLength(100);
      const continued = events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes;
      expect(continued).toBeTruthy();
      expect(events.length).toBeLessThan(1_000);

      const latest = await handle.describe();
      expect(latest.runId).not.toBe(handle.firstExecutionRunId);
      expect(latest.typedSearchAttributes.get(OPERATION_DONE)).toBe(batches);
      expect(latest.typedSearchAttributes.get(OPERATION_REMAINING)).toBe(0);
      expect(await handle.query(operationProgressQuery)).toEqual(progress('completed', batches, batches));
    },
  );
}, 60_000);

test('cancelled: the batch in flight ends first, the operation is recorded cancelled, the workflow ends Canceled', async () => {
  let batchCancelled = false;
  const ended: OperationStatus[] = [];
  await withWorker(
    {
      async runOperationBatch(): Promise<OperationBatchOutcome> {
        const context = Context.current();
        const heartbeat = setInterval(() => context.heartbeat(), 200);
        try {
          await context.cancelled;
        } catch (error) {
          batchCancelled = error instanceof CancelledFailure;
          throw error;
        } finally {
          clearInterval(heartbeat);
        }
        throw new Error('unreachable');
      },
      async finishOperation({ status }) {
        // The batch has ended before the operation's end is recorded.
        expect(batchCancelled).toBe(true);
        ended.push(status);
        return progress(status, 10, 3);
      },
    },
    async (taskQueue) => {
      const handle = await start(taskQueue, 10);
      await waitFor(async () => {
        const { raw } = await handle.describe();
        return (raw.pendingActivities?.length ?? 0) > 0 ? true : undefined;
      }, 'the batch to start');
      await handle.cancel();
      const failure = await handle.result().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect((failure as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      expect(ended).toEqual(['cancelled']);
      expect((await handle.describe()).status.name).toBe('CANCELLED');
      expect(await handle.query(operationProgressQuery)).toEqual(progress('cancelled', 10, 3));
    },
  );
}, 60_000);

test('a batch that cannot succeed: the operation is recorded failed, and the workflow fails', async () => {
  const ended: OperationStatus[] = [];
  await withWorker(
    {
      async runOperationBatch(): Promise<OperationBatchOutcome> {
        throw ApplicationFailure.nonRetryable('the store refused the batch');
      },
      async finishOperation({ status }) {
        ended.push(status);
        return progress(status, 10, 0);
      },
    },
    async (taskQueue) => {
      const handle = await start(taskQueue, 10);
      await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(ended).toEqual(['failed']);
      expect((await handle.describe()).status.name).toBe('FAILED');
    },
  );
}, 60_000);
