/**
 * subscriberWorkflow (throughput mode) on its own: the real workflow code, and the real
 * deliveryWorkflow it hands failed first attempts to, on Temporal's time-skipping test server,
 * with the activities replaced by scripted mocks of the same names and signatures. No store, no
 * HTTP: each mock attempt answers as the test says, throwing the ApplicationFailures that
 * activities/post-webhook.ts throws. Deliveries reach the workflow as the dispatcher sends them:
 * through the enqueue update.
 *
 * Time on the test server is locked (it runs at wall-clock speed) except while the environment's
 * client awaits a result: the subscriber's idle minute and a handed-on delivery's backoff pass
 * only when a test awaits a workflow's result.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import {
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { ApplicationFailure, ApplicationFailureCategory, defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type {
  Activities,
  PostWebhookInput,
  PostWebhookResult,
  RecordOutcomeInput,
  RetryDetails,
} from '../../activities';
import { DEFAULT_RETRY_POLICY, FINAL_FAILURE_TYPES } from '../../core/retry-policy';
import { SUBSCRIPTION_ID } from '../../core/search-attributes';
import { deliveryWorkflowId, subscriberWorkflowId } from '../../core/workflow-ids';
import type { deliveryWorkflow, subscriberWorkflow } from '../../workflows';
import {
  DELIVERY_FAILURE_TYPES,
  DELIVERY_WORKFLOW_REVISION,
  type DeliveryWorkflowInput,
} from '../../workflows/messages';
import {
  cancelQueuedUpdate,
  enqueueUpdate,
  SUBSCRIBER_LIMITS,
  SUBSCRIBER_REFUSALS,
  subscriberStatusQuery,
  type EnqueueResult,
  type QueuedDelivery,
  type SubscriberState,
  type SubscriberWorkflowInput,
} from '../../workflows/subscriber-messages';
import { workflowBundle } from '../helpers/harness';
import { createTimeSkippingTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

/** Bounds every real-time wait in this file. */
const WAIT_MS = 20_000;
/**
 * Deadline of one attempt in these tests: long enough that an attempt the test holds is never cut
 * by the local activity's own timeout (the attempt's deadline plus 10 s).
 */
const ATTEMPT_TIMEOUT_MS = 60_000;
/**
 * Workflow task timeout of the runs whose attempts the test holds: while local activities run,
 * the worker hands new messages (an enqueue, a cancel) to the workflow every 80% of it, instead
 * of every 8 s. Not shorter: on a loaded machine a task that misses its heartbeat times out, and
 * its local activities run again (which the real attempt answers from its record; these mocks
 * count them).
 */
const SHORT_TASK_TIMEOUT = '3s';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await createTimeSkippingTemporal();
}, 60_000);

afterAll(async () => {
  await env?.teardown();
});

// ---------------------------------------------------------------------------------------------
// The mocked activities

/** One call of the mocked postWebhook, as the worker ran it. */
interface AttemptCall {
  readonly input: PostWebhookInput;
  /** A local first attempt (true) or the regular activity of a delivery workflow (false). */
  readonly isLocal: boolean;
  /** The workflow run that made it. */
  readonly workflowId: string;
  readonly runId: string;
  /** Server time (workflow time) when the attempt started. */
  readonly at: number;
}

/** What an attempt does: return for a 2xx, throw as postWebhook throws, or hang. */
type Answer = (call: AttemptCall) => Promise<void>;

const delivered: Answer = async () => undefined;

/** A retryable failure (5xx, 429, a network error) whose next attempt is due `ms` from now, as postWebhook throws it. */
const failsRetryingIn =
  (ms: number): Answer =>
  async (call) => {
    const details: RetryDetails = { nextAttemptAt: call.at + ms };
    throw ApplicationFailure.create({
      message: 'receiver answered HTTP 500',
      type: 'AttemptFailed',
      details: [details],
      category: ApplicationFailureCategory.BENIGN,
    });
  };

/** The final failures postWebhook throws: non-retryable, benign, of the types the workflows know. */
const FINAL = {
  rejected: { type: FINAL_FAILURE_TYPES.receiverRejected, message: 'receiver answered HTTP 404' },
  gone: { type: FINAL_FAILURE_TYPES.subscriptionGone, message: 'the subscription was deleted or deactivated' },
} as const;

const failsFinally =
  (kind: keyof typeof FINAL): Answer =>
  async () => {
    throw ApplicationFailure.create({
      ...FINAL[kind],
      nonRetryable: true,
      category: ApplicationFailureCategory.BENIGN,
    });
  };

/**
 * The activities as the worker registers them (same names, same signatures), every call
 * recorded. Each delivery's n-th attempt answers with its script's n-th answer (the last one
 * repeating); a delivery with no script gets the default answer.
 */
class MockActivities {
  readonly attempts: AttemptCall[] = [];
  readonly outcomes: RecordOutcomeInput[] = [];
  private readonly scripts = new Map<string, readonly Answer[]>();
  private releaseHeld!: () => void;
  private readonly released = new Promise<void>((resolve) => (this.releaseHeld = resolve));

  /**
   * An attempt the test holds, like a receiver that has not answered yet: it answers 2xx once the
   * test calls release(), or ends cancelled when its workflow cancels it.
   */
  readonly held: Answer = async () => {
    await Promise.race([this.released, Context.current().cancelled]);
  };

  constructor(private readonly byDefault: 'delivered' | 'held' = 'delivered') {}

  script(delivery: QueuedDelivery, ...answers: Answer[]): void {
    this.scripts.set(delivery.deliveryId, answers);
  }

  /** Lets every held attempt, and every attempt after, answer 2xx. */
  release(): void {
    this.releaseHeld();
  }

  readonly activities: Activities = {
    postWebhook: async (input: PostWebhookInput): Promise<PostWebhookResult> => {
      const { info } = Context.current();
      const call: AttemptCall = {
        input,
        isLocal: info.isLocal,
        workflowId: info.workflowExecution?.workflowId ?? '',
        runId: info.workflowExecution?.runId ?? '',
        at: await env.currentTimeMs(),
      };
      const before = this.callsOf(input.deliveryId).length;
      this.attempts.push(call);
      const script = this.scripts.get(input.deliveryId);
      const answer =
        script?.[Math.min(before, script.length - 1)] ?? (this.byDefault === 'held' ? this.held : delivered);
      await answer(call);
      return { statusCode: 200, durationMs: 1, attempt: before + 1 };
    },
    recordOutcome: async (input: RecordOutcomeInput): Promise<void> => {
      this.outcomes.push(input);
    },
    requestCancellation: async (): Promise<void> => {
      const run = Context.current().info.workflowExecution;
      if (!run) throw new Error('requestCancellation runs for a workflow only');
      await env.client.workflow.getHandle(run.workflowId, run.runId).cancel();
    },
  };

  callsOf(deliveryId: string): AttemptCall[] {
    return this.attempts.filter((a) => a.input.deliveryId === deliveryId);
  }

  /** How many attempts each delivery got, by delivery id. */
  countsOf(batch: readonly QueuedDelivery[]): Record<string, number> {
    return Object.fromEntries(batch.map((d) => [d.deliveryId, this.callsOf(d.deliveryId).length]));
  }

  /** Resolves once `count` attempts have started (in real time: no time is skipped meanwhile). */
  async attempted(count: number): Promise<void> {
    await waitFor(() => (this.attempts.length >= count ? true : undefined), `${count} attempts`, WAIT_MS, 20);
  }
}

// ---------------------------------------------------------------------------------------------
// Subscribers and deliveries

/** A delivery as the dispatcher hands it over (ids and settings only). */
function newDelivery(): QueuedDelivery {
  const id = randomUUID().replaceAll('-', '').slice(0, 20);
  return {
    deliveryId: `dlv_${id}`,
    eventId: `evt_${id}`,
    eventType: 'order.created',
    accountId: null,
    targetHost: 'receiver.example',
    retryPolicy: DEFAULT_RETRY_POLICY,
  };
}

const newDeliveries = (count: number): QueuedDelivery[] => Array.from({ length: count }, newDelivery);

/** The same counts for every delivery of the batch. */
const each = (batch: readonly QueuedDelivery[], count: number): Record<string, number> =>
  Object.fromEntries(batch.map((d) => [d.deliveryId, count]));

interface Subscriber {
  readonly subscriptionId: string;
  readonly handle: WorkflowHandle<typeof subscriberWorkflow>;
  /** The run the test started. */
  readonly runId: string;
  enqueue(batch: readonly QueuedDelivery[]): Promise<EnqueueResult>;
  status(): Promise<SubscriberState>;
  /** Resolves once the workflow (any run of it) has handled `count` deliveries, with the status then. */
  handled(count: number): Promise<SubscriberState>;
  /** The delivery workflow a delivery's failed first attempt is handed to. */
  child(delivery: QueuedDelivery): WorkflowHandle<typeof deliveryWorkflow>;
}

interface SubscriberOptions extends Partial<Omit<SubscriberWorkflowInput, 'subscriptionId'>> {
  readonly workflowTaskTimeout?: string;
}

/**
 * Runs `body` with a worker of its own (a fresh task queue) serving the real workflow bundle and
 * the mocks, and a subscriber workflow started on it as the dispatcher starts one (its id, its
 * search attribute). Held attempts are released before the worker shuts down.
 */
async function withSubscriber(
  mocks: MockActivities,
  options: SubscriberOptions,
  body: (subscriber: Subscriber) => Promise<void>,
): Promise<void> {
  const taskQueue = `subscriber-wf-${randomUUID()}`;
  const subscriptionId = `sub_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: mocks.activities,
  });
  const { workflowTaskTimeout, ...input } = options;
  await worker.runUntil(async () => {
    let handle: WorkflowHandleWithFirstExecutionRunId<typeof subscriberWorkflow> | undefined;
    try {
      handle = await env.client.workflow.start<typeof subscriberWorkflow>('subscriberWorkflow', {
        workflowId: subscriberWorkflowId(subscriptionId),
        taskQueue,
        args: [{ subscriptionId, attemptTimeoutMs: ATTEMPT_TIMEOUT_MS, ...input }],
        typedSearchAttributes: [{ key: SUBSCRIPTION_ID, value: subscriptionId }],
        ...(workflowTaskTimeout ? { workflowTaskTimeout } : {}),
      });
      const started = handle;
      const status = (): Promise<SubscriberState> => started.query(subscriberStatusQuery);
      await body({
        subscriptionId,
        handle: started,
        runId: started.firstExecutionRunId,
        enqueue: (batch) => started.executeUpdate(enqueueUpdate, { args: [batch] }),
        status,
        handled: (count) =>
          waitFor(
            async () => {
              const state = await status();
              return state.handled >= count ? state : undefined;
            },
            `${count} deliveries handled`,
            WAIT_MS,
            20,
          ),
        child: (delivery) =>
          env.client.workflow.getHandle<typeof deliveryWorkflow>(deliveryWorkflowId(delivery.eventId, subscriptionId)),
      });
    } finally {
      mocks.release();
      if (handle) await closed(handle);
    }
  });
}

/**
 * Lets a subscriber the test left open end as it does, idle (awaiting its result skips the idle
 * minute), while its worker still runs. Its timer would otherwise fire after the test, with no
 * worker to take the workflow task, and the test server skips no time while a workflow task waits
 * (it holds the time of every later test still). Terminating it is the last resort: after a
 * subscriber that had started a child was terminated, the test server was seen to skip no time
 * for the tests after.
 */
async function closed(handle: WorkflowHandle<typeof subscriberWorkflow>): Promise<void> {
  const ended = await Promise.race([
    handle.result().then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), WAIT_MS).unref()),
  ]);
  if (!ended && (await handle.describe()).status.name === 'RUNNING') await handle.terminate('the test is over');
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

async function historyOf(handle: WorkflowHandle): Promise<HistoryEvent[]> {
  return (await handle.fetchHistory()).events ?? [];
}

/** Resolves once the delivery workflow exists, with what it was started with and by whom. */
async function startedChild(
  handle: WorkflowHandle,
): Promise<{ input: DeliveryWorkflowInput; parent: string | null | undefined }> {
  const started = await waitFor(
    async () => (await historyOf(handle))[0]?.workflowExecutionStartedEventAttributes ?? undefined,
    `delivery workflow ${handle.workflowId}`,
    WAIT_MS,
  );
  const payload = started.input?.payloads?.[0];
  if (!payload) throw new Error(`${handle.workflowId} was started with no input`);
  return {
    input: defaultPayloadConverter.fromPayload<DeliveryWorkflowInput>(payload),
    parent: started.parentWorkflowExecution?.workflowId,
  };
}

async function expectNoWorkflow(handle: WorkflowHandle): Promise<void> {
  await expect(handle.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
}

/** The refusal an update ended with (undefined when it was accepted). */
async function refusalOf(update: Promise<unknown>): Promise<WorkflowUpdateFailedError | undefined> {
  const error = await update.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error !== undefined && !(error instanceof WorkflowUpdateFailedError)) throw error;
  return error;
}

// ---------------------------------------------------------------------------------------------

describe('first attempts', () => {
  test('several deliveries answered 2xx: one local attempt each, nothing handed on, all counted as handled', async () => {
    const mocks = new MockActivities();
    await withSubscriber(mocks, {}, async (subscriber) => {
      const batch = newDeliveries(5);
      expect(await subscriber.enqueue(batch)).toEqual({ accepted: 5, outstanding: 5 });
      expect(await subscriber.handled(5)).toEqual({
        subscriptionId: subscriber.subscriptionId,
        queued: 0,
        attempting: 0,
        handled: 5,
      });
      expect(mocks.countsOf(batch)).toEqual(each(batch, 1));
      for (const delivery of batch) {
        const [call] = mocks.callsOf(delivery.deliveryId);
        expect(call).toMatchObject({
          isLocal: true,
          workflowId: subscriber.handle.workflowId,
          runId: subscriber.runId,
        });
        expect(call?.input).toEqual({
          deliveryId: delivery.deliveryId,
          retryPolicy: DEFAULT_RETRY_POLICY,
          attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
          attemptsBefore: 0,
        });
        await expectNoWorkflow(subscriber.child(delivery));
      }
      // A delivered attempt records its success itself.
      expect(mocks.outcomes).toEqual([]);
    });
  });

  test('a retryable first failure: handed to its delivery workflow with that outcome, which retries it as the regular activity', async () => {
    // Shorter than the subscriber's idle minute: the child ends while its parent still runs.
    const BACKOFF_MS = 30_000;
    const mocks = new MockActivities();
    const [ok, failing] = newDeliveries(2) as [QueuedDelivery, QueuedDelivery];
    mocks.script(failing, failsRetryingIn(BACKOFF_MS), delivered);
    await withSubscriber(mocks, {}, async (subscriber) => {
      expect(await subscriber.enqueue([ok, failing])).toMatchObject({ accepted: 2 });
      const child = subscriber.child(failing);
      const { input, parent } = await startedChild(child);
      const [first] = mocks.callsOf(failing.deliveryId);
      expect(parent).toBe(subscriber.handle.workflowId);
      expect(input).toEqual({
        deliveryId: failing.deliveryId,
        eventId: failing.eventId,
        subscriptionId: subscriber.subscriptionId,
        retryPolicy: DEFAULT_RETRY_POLICY,
        attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
        revision: DELIVERY_WORKFLOW_REVISION,
        windowStartedAt: expect.any(Number),
        firstAttempt: { kind: 'retry', reason: 'receiver answered HTTP 500', nextAttemptAt: first!.at + BACKOFF_MS },
      });
      // The delivery's retry window opened with the first attempt, not with the delivery workflow.
      expect(Math.abs(input.windowStartedAt! - first!.at)).toBeLessThan(5_000);
      expect(await subscriber.handled(2)).toMatchObject({ queued: 0, attempting: 0, handled: 2 });

      // Awaiting the result skips the wait the first attempt asked for.
      expect(await child.result()).toMatchObject({ deliveryId: failing.deliveryId, status: 'succeeded' });
      const calls = mocks.callsOf(failing.deliveryId);
      expect(calls.map((c) => [c.isLocal, c.input.attemptsBefore, c.workflowId])).toEqual([
        [true, 0, subscriber.handle.workflowId],
        [false, 1, child.workflowId],
      ]);
      expect(calls[1]!.at).toBeGreaterThanOrEqual(first!.at + BACKOFF_MS);
      expect(mocks.countsOf([ok])).toEqual(each([ok], 1));
      await expectNoWorkflow(subscriber.child(ok));
      expect(mocks.outcomes).toEqual([]);
    });
  });

  test('a final failure (ReceiverRejected): its delivery workflow ends Failed at once, after that one attempt', async () => {
    const mocks = new MockActivities();
    const rejected = newDelivery();
    mocks.script(rejected, failsFinally('rejected'));
    await withSubscriber(mocks, {}, async (subscriber) => {
      await subscriber.enqueue([rejected]);
      const child = subscriber.child(rejected);
      const { input } = await startedChild(child);
      expect(input.firstAttempt).toEqual({
        kind: 'final',
        reason: FINAL.rejected.message,
        failureType: FINAL_FAILURE_TYPES.receiverRejected,
      });
      const error = await child.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toBeInstanceOf(ApplicationFailure);
      expect((error as WorkflowFailedError).cause).toMatchObject({
        type: DELIVERY_FAILURE_TYPES.receiverRejected,
        message: FINAL.rejected.message,
        nonRetryable: true,
      });
      expect((await child.describe()).status.name).toBe('FAILED');
      expect(mocks.callsOf(rejected.deliveryId)).toHaveLength(1);
      expect(mocks.outcomes).toEqual([
        { deliveryId: rejected.deliveryId, status: 'failed', reason: 'receiver answered HTTP 404' },
      ]);
    });
  });

  test('the subscription gone at the first attempt: recorded as cancelled here, nothing handed on', async () => {
    const mocks = new MockActivities();
    const gone = newDelivery();
    mocks.script(gone, failsFinally('gone'));
    await withSubscriber(mocks, {}, async (subscriber) => {
      await subscriber.enqueue([gone]);
      expect(await subscriber.handled(1)).toMatchObject({ queued: 0, attempting: 0, handled: 1 });
      expect(mocks.outcomes).toEqual([{ deliveryId: gone.deliveryId, status: 'cancelled' }]);
      expect(mocks.callsOf(gone.deliveryId)).toHaveLength(1);
      await expectNoWorkflow(subscriber.child(gone));
    });
  });
});

describe('enqueue', () => {
  test('a delivery enqueued again while it is held: accepted, attempted once', async () => {
    const mocks = new MockActivities('held');
    const [a, b] = newDeliveries(2) as [QueuedDelivery, QueuedDelivery];
    await withSubscriber(mocks, { workflowTaskTimeout: SHORT_TASK_TIMEOUT }, async (subscriber) => {
      expect(await subscriber.enqueue([a])).toEqual({ accepted: 1, outstanding: 1 });
      await mocks.attempted(1);
      expect(await subscriber.enqueue([a])).toEqual({ accepted: 1, outstanding: 1 });
      // Twice in one batch, too.
      expect(await subscriber.enqueue([b, b, a])).toEqual({ accepted: 3, outstanding: 2 });
      await mocks.attempted(2);
      expect(await subscriber.status()).toMatchObject({ queued: 0, attempting: 2, handled: 0 });
      mocks.release();
      expect(await subscriber.handled(2)).toMatchObject({ queued: 0, attempting: 0, handled: 2 });
      expect(mocks.countsOf([a, b])).toEqual(each([a, b], 1));
      expect(mocks.attempts).toHaveLength(2);
    });
  });

  test(`the bound: ${SUBSCRIBER_LIMITS.outstanding} held, a batch takes only what fits, then SubscriberFull`, async () => {
    const limit = SUBSCRIBER_LIMITS.outstanding;
    const mocks = new MockActivities('held');
    await withSubscriber(mocks, { workflowTaskTimeout: SHORT_TASK_TIMEOUT }, async (subscriber) => {
      const first = newDeliveries(limit - 10);
      expect(await subscriber.enqueue(first)).toEqual({ accepted: limit - 10, outstanding: limit - 10 });
      await mocks.attempted(SUBSCRIBER_LIMITS.concurrentAttempts);
      expect(await subscriber.status()).toMatchObject({
        queued: limit - 10 - SUBSCRIBER_LIMITS.concurrentAttempts,
        attempting: SUBSCRIBER_LIMITS.concurrentAttempts,
      });

      // A batch that only partly fits: the first ten are taken, the rest are the sender's to send again.
      const partly = newDeliveries(20);
      expect(await subscriber.enqueue(partly)).toEqual({ accepted: 10, outstanding: limit });

      // Full: a new delivery is refused by the validator.
      const extra = newDelivery();
      const refusal = await refusalOf(subscriber.enqueue([extra]));
      expect(refusal).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(refusal?.cause).toBeInstanceOf(ApplicationFailure);
      expect(refusal?.cause).toMatchObject({ type: SUBSCRIBER_REFUSALS.full, nonRetryable: true });
      // A batch led by a delivery it holds is taken up to that one.
      expect(await subscriber.enqueue([first[0]!, extra])).toEqual({ accepted: 1, outstanding: limit });

      mocks.release();
      const taken = [...first, ...partly.slice(0, 10)];
      expect(await subscriber.handled(limit)).toMatchObject({ queued: 0, attempting: 0, handled: limit });
      expect(mocks.countsOf(taken)).toEqual(each(taken, 1));
      expect(mocks.countsOf([...partly.slice(10), extra])).toEqual(each([...partly.slice(10), extra], 0));
      expect(mocks.attempts).toHaveLength(limit);

      // With room again, the refused one is taken.
      expect(await subscriber.enqueue([extra])).toEqual({ accepted: 1, outstanding: expect.any(Number) });
      await subscriber.handled(limit + 1);
      expect(mocks.countsOf([extra])).toEqual(each([extra], 1));
    });
  });
});

describe('cancelQueued', () => {
  test('of a queued delivery: cancelled, its outcome recorded, never attempted; of an unknown one: not-held', async () => {
    const mocks = new MockActivities('held');
    const batch = newDeliveries(SUBSCRIBER_LIMITS.concurrentAttempts + 1);
    const queued = batch.at(-1)!;
    await withSubscriber(mocks, { workflowTaskTimeout: SHORT_TASK_TIMEOUT }, async (subscriber) => {
      await subscriber.enqueue(batch);
      await mocks.attempted(SUBSCRIBER_LIMITS.concurrentAttempts);
      expect(await subscriber.status()).toMatchObject({ queued: 1, attempting: SUBSCRIBER_LIMITS.concurrentAttempts });

      expect(await subscriber.handle.executeUpdate(cancelQueuedUpdate, { args: [queued.deliveryId] })).toBe(
        'cancelled',
      );
      expect(mocks.outcomes).toEqual([{ deliveryId: queued.deliveryId, status: 'cancelled' }]);
      expect(await subscriber.status()).toMatchObject({ queued: 0, handled: 1 });
      expect(await subscriber.handle.executeUpdate(cancelQueuedUpdate, { args: ['dlv_unknown'] })).toBe('not-held');
      expect(await subscriber.handle.executeUpdate(cancelQueuedUpdate, { args: [queued.deliveryId] })).toBe('not-held');

      mocks.release();
      await subscriber.handled(batch.length);
      expect(mocks.callsOf(queued.deliveryId)).toEqual([]);
      expect(mocks.countsOf(batch.slice(0, -1))).toEqual(each(batch.slice(0, -1), 1));
      expect(mocks.outcomes).toHaveLength(1);
    });
  });

  test('of a delivery being attempted: the attempt is aborted, the delivery recorded as cancelled, nothing handed on', async () => {
    const mocks = new MockActivities('held');
    const [inFlight, other] = newDeliveries(2) as [QueuedDelivery, QueuedDelivery];
    await withSubscriber(mocks, { workflowTaskTimeout: SHORT_TASK_TIMEOUT }, async (subscriber) => {
      await subscriber.enqueue([inFlight, other]);
      await mocks.attempted(2);
      expect(await subscriber.handle.executeUpdate(cancelQueuedUpdate, { args: [inFlight.deliveryId] })).toBe(
        'cancelled',
      );
      expect(mocks.outcomes).toEqual([{ deliveryId: inFlight.deliveryId, status: 'cancelled' }]);
      mocks.release();
      expect(await subscriber.handled(2)).toMatchObject({ queued: 0, attempting: 0, handled: 2 });
      expect(mocks.countsOf([inFlight, other])).toEqual(each([inFlight, other], 1));
      await expectNoWorkflow(subscriber.child(inFlight));
      expect(mocks.outcomes).toHaveLength(1);
    });
  });
});

describe('continue-as-new', () => {
  /**
   * The time-skipping server suggests continuing as new (continueAsNewSuggested) in the workflow
   * tasks it starts once a run's history is past 4 Ki events, as Temporal does by default: well
   * before the workflow's own bound, SUBSCRIBER_LIMITS.historyEvents, which these tests cannot reach.
   */
  const SUGGESTED_AT = 4_096;
  const BATCH = SUBSCRIBER_LIMITS.outstanding;

  test('a long run continues as new only once its attempts in flight finished, carrying its queue: each delivery attempted once', async () => {
    const mocks = new MockActivities();
    // Long enough that a batch of 2xx takes one workflow task, with no heartbeat
    // task in the middle that could start past the mark before the test means it to.
    await withSubscriber(mocks, { workflowTaskTimeout: '2s' }, async (subscriber) => {
      // Fill the run's history with deliveries answered 2xx (a marker each), a full batch at a time.
      const fast: QueuedDelivery[] = [];
      let historyLength = 0;
      while (historyLength < SUGGESTED_AT) {
        const batch = newDeliveries(BATCH);
        fast.push(...batch);
        expect(await subscriber.enqueue(batch)).toMatchObject({ accepted: BATCH });
        await subscriber.handled(fast.length);
        const description = await subscriber.handle.describe();
        // Still the first run: it had no reason to continue while idle.
        expect(description.runId).toBe(subscriber.runId);
        historyLength = description.historyLength;
      }

      // The next batch wakes it past the mark: it starts what it may, then stops taking deliveries,
      // while the attempts it started hang.
      const last = newDeliveries(50);
      const inFlight = last.slice(0, SUBSCRIBER_LIMITS.concurrentAttempts);
      const carried = last.slice(SUBSCRIBER_LIMITS.concurrentAttempts);
      for (const delivery of inFlight) mocks.script(delivery, mocks.held);
      expect(await subscriber.enqueue(last)).toMatchObject({ accepted: last.length });
      await mocks.attempted(fast.length + inFlight.length);
      const closing = await refusalOf(subscriber.enqueue(newDeliveries(1)));
      expect(closing?.cause).toMatchObject({ type: SUBSCRIBER_REFUSALS.closing });
      expect(await subscriber.status()).toMatchObject({
        queued: carried.length,
        attempting: inFlight.length,
        handled: fast.length,
      });
      const described = await subscriber.handle.describe();
      expect([described.runId, described.status.name]).toEqual([subscriber.runId, 'RUNNING']);

      mocks.release();
      const newRunId = await waitFor(
        async () => {
          const { runId } = await subscriber.handle.describe();
          return runId === subscriber.runId ? undefined : runId;
        },
        'the run to continue as new',
        WAIT_MS,
      );
      const firstRun = env.client.workflow.getHandle(subscriber.handle.workflowId, subscriber.runId);
      expect((await firstRun.describe()).status.name).toBe('CONTINUED_AS_NEW');
      const all = [...fast, ...last];
      expect(await subscriber.handled(all.length)).toMatchObject({ queued: 0, attempting: 0, handled: all.length });

      // Each delivery attempted exactly once across the runs: the held ones in the first, the queue in the next.
      expect(mocks.countsOf(all)).toEqual(each(all, 1));
      expect(mocks.attempts).toHaveLength(all.length);
      expect(new Set(inFlight.flatMap((d) => mocks.callsOf(d.deliveryId).map((c) => c.runId)))).toEqual(
        new Set([subscriber.runId]),
      );
      expect(new Set(carried.flatMap((d) => mocks.callsOf(d.deliveryId).map((c) => c.runId)))).toEqual(
        new Set([newRunId]),
      );

      // The held attempts' results were committed in a workflow task before the one that continued as new.
      const events = await historyOf(firstRun);
      expect(events.some((e) => e.workflowTaskStartedEventAttributes?.suggestContinueAsNew)).toBe(true);
      const lastMarker = events.findLastIndex((e) => e.markerRecordedEventAttributes);
      const continued = events.findIndex((e) => e.workflowExecutionContinuedAsNewEventAttributes);
      expect(continued).toBe(events.length - 1);
      const between = events.slice(lastMarker + 1, continued);
      expect(between.filter((e) => e.workflowTaskCompletedEventAttributes).length).toBeGreaterThanOrEqual(1);
      expect(between.some((e) => e.timerFiredEventAttributes)).toBe(true);
      const carriedInput = events[continued]?.workflowExecutionContinuedAsNewEventAttributes?.input?.payloads?.[0];
      expect(defaultPayloadConverter.fromPayload<SubscriberWorkflowInput>(carriedInput!)).toMatchObject({
        subscriptionId: subscriber.subscriptionId,
        queued: carried,
        handledBefore: fast.length + inFlight.length,
      });
    });
  }, 90_000);

  test('a run started with a queue carried over attempts each queued delivery once, counting on from handledBefore', async () => {
    const mocks = new MockActivities();
    const queued = newDeliveries(3);
    await withSubscriber(mocks, { queued, handledBefore: 7 }, async (subscriber) => {
      expect(await subscriber.handled(10)).toMatchObject({ queued: 0, attempting: 0, handled: 10 });
      expect(mocks.countsOf(queued)).toEqual(each(queued, 1));
      expect(mocks.attempts.every((a) => a.runId === subscriber.runId && a.input.attemptsBefore === 0)).toBe(true);
      expect(await subscriber.handle.result()).toBe(10);
      expect(mocks.attempts).toHaveLength(3);
    });
  });
});

describe('idle', () => {
  test('with nothing to do for a minute after its last delivery, the workflow completes with the count it handled', async () => {
    const mocks = new MockActivities();
    await withSubscriber(mocks, {}, async (subscriber) => {
      const batch = newDeliveries(3);
      await subscriber.enqueue(batch);
      await subscriber.handled(3);
      const startedAt = await env.currentTimeMs();
      // Awaiting the result skips the idle minute.
      expect(await subscriber.handle.result()).toBe(3);
      expect(await env.currentTimeMs()).toBeGreaterThanOrEqual(startedAt + SUBSCRIBER_LIMITS.idleMs - 1_000);
      const description = await subscriber.handle.describe();
      expect([description.runId, description.status.name]).toEqual([subscriber.runId, 'COMPLETED']);
      expect(mocks.countsOf(batch)).toEqual(each(batch, 1));
    });
  });
});

describe("Temporal's own cancellation of the subscriber (the UI's cancel button)", () => {
  /**
   * The run ends Canceled, and no delivery it held is left pending: the attempts in flight are
   * aborted and recorded cancelled, the queued ones recorded cancelled.
   */
  test('every delivery it held is ended (recorded) or handed on, none left pending', async () => {
    const mocks = new MockActivities('held');
    const batch = newDeliveries(SUBSCRIBER_LIMITS.concurrentAttempts + 2);
    await withSubscriber(mocks, { workflowTaskTimeout: SHORT_TASK_TIMEOUT }, async (subscriber) => {
      await subscriber.enqueue(batch);
      await mocks.attempted(SUBSCRIBER_LIMITS.concurrentAttempts);
      await subscriber.handle.cancel();
      await subscriber.handle.result().catch(() => undefined);
      const recorded = new Set(mocks.outcomes.map((o) => o.deliveryId));
      const left: string[] = [];
      for (const delivery of batch) {
        if (recorded.has(delivery.deliveryId)) continue;
        const handedOn = await subscriber
          .child(delivery)
          .describe()
          .then(
            () => true,
            () => false,
          );
        if (!handedOn) left.push(delivery.deliveryId);
      }
      expect(left).toEqual([]);
    });
  });
});
