/**
 * deliveryWorkflow on its own: the real workflow code on Temporal's time-skipping test server, with
 * its activities replaced by scripted mocks of the same names and signatures. No store, no HTTP:
 * each mock attempt answers as the test says, throwing the ApplicationFailures that
 * activities/post-webhook.ts throws. Every branch of the workflow is driven here; what the
 * activities do for real is test/activities/post-webhook.test.ts's job.
 *
 * Time on the test server is locked (it runs at wall-clock speed) except while the environment's
 * client awaits a result or sleeps: a test acts on a waiting workflow first, then awaits it, so an
 * hour of backoff is skipped only when the test wants it skipped.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import {
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import {
  ApplicationFailure,
  ApplicationFailureCategory,
  CancelledFailure,
  WorkflowIdReusePolicy,
} from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type {
  Activities,
  PostWebhookInput,
  PostWebhookResult,
  RecordOutcomeInput,
  NotSentDetails,
  RetryDetails,
} from '../../activities';
import type { DeliveryStatus } from '../../core/model';
import {
  DEFAULT_RETRY_POLICY,
  FINAL_FAILURE_TYPES,
  SUBSCRIPTION_PAUSED,
  SUBSCRIPTION_THROTTLED,
  MAX_DELIVERY_WINDOW_MS,
  backoffAfterAttempt,
  nextAttemptAt,
  withDefaults,
  type DeliveryRetryPolicy,
} from '../../core/retry-policy';
import { DELIVERY_STATUS } from '../../core/search-attributes';
import { SLOT_LEAD_MS } from '../../core/throttle';
import { deliveryStartOptions } from '../../src/temporal/delivery-start';
import type { deliveryWorkflow } from '../../workflows';
import {
  cancelSignal,
  cancelUpdate,
  DELIVERY_FAILURE_TYPES,
  resendSignal,
  resendUpdate,
  resumeSignal,
  statusQuery,
  type DeliveryFailureType,
  type DeliveryState,
} from '../../workflows/messages';
import { workflowBundle } from '../helpers/harness';
import { createTimeSkippingTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** Bounds every real-time wait in this file. */
const WAIT_MS = 10_000;
/** Resends after which a run continues as new (RESENDS_PER_RUN in workflows/delivery.ts). */
const RESENDS_PER_RUN = 100;

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
  /** The workflow's local first attempt (true) or the regular activity (false). */
  readonly isLocal: boolean;
  /** Temporal's attempt number of this activity (the local attempt is always 1). */
  readonly attempt: number;
  /** The workflow run it belongs to. */
  readonly runId: string;
  /** Server time (workflow time) when the attempt started: ahead of the wall clock once time was skipped. */
  readonly at: number;
  /** Wall-clock time when the attempt started. */
  readonly startedAt: number;
  /** When the run's retry window closes, as the activity can tell (its schedule-to-close deadline). */
  readonly windowEndsAt: number;
}

/** What an attempt does: return for a 2xx, throw as postWebhook throws, or hang until cancelled. */
type Answer = (call: AttemptCall) => Promise<void>;

const delivered: Answer = async () => undefined;

/**
 * The failure postWebhook throws for an answer worth retrying (5xx, 429, a network error): type
 * 'AttemptFailed', benign, Retry-After as `nextRetryDelay`, and when the next attempt is due in
 * its details, computed as the activity computes it. `nextAttemptAt` overrides that computation.
 */
function retryable(
  call: AttemptCall,
  options: { reason?: string; retryAfterMs?: number; nextAttemptAt?: number | null } = {},
): ApplicationFailure {
  const next =
    options.nextAttemptAt !== undefined
      ? options.nextAttemptAt
      : nextAttemptAt({
          policy: call.input.retryPolicy,
          attempt: call.attempt + (call.input.attemptsBefore ?? 0),
          now: call.at,
          windowEndsAt: call.windowEndsAt,
          retryAfterMs: options.retryAfterMs,
        });
  const details: RetryDetails = { nextAttemptAt: next };
  return ApplicationFailure.create({
    message: options.reason ?? 'receiver answered HTTP 500',
    type: 'AttemptFailed',
    nextRetryDelay: options.retryAfterMs,
    details: [details],
    category: ApplicationFailureCategory.BENIGN,
  });
}

const fails =
  (options: Parameters<typeof retryable>[1] = {}): Answer =>
  async (call) => {
    throw retryable(call, options);
  };

/** A retryable failure whose next attempt is due `ms` from now (as Retry-After or a backoff would say). */
const failsRetryingIn =
  (ms: number): Answer =>
  async (call) => {
    throw retryable(call, { nextAttemptAt: call.at + ms });
  };

/** The final failures postWebhook throws: non-retryable, benign, of the types the workflow knows. */
const FINAL = {
  rejected: { type: FINAL_FAILURE_TYPES.receiverRejected, message: 'receiver answered HTTP 404' },
  refused: { type: FINAL_FAILURE_TYPES.targetRefused, message: 'http://127.0.0.1/ is not allowed: use https' },
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
 * Hangs like a receiver that never answers, heartbeating as postWebhook does, until Temporal (or
 * the worker, for a local attempt) cancels it; then rethrows the cancellation, as postWebhook does.
 */
function hangs(record: { cancelledAt?: number }): Answer {
  return async () => {
    const context = Context.current();
    try {
      for (;;) {
        if (!context.info.isLocal) context.heartbeat();
        await context.sleep(100);
      }
    } catch (error) {
      if (error instanceof CancelledFailure) record.cancelledAt = Date.now();
      throw error;
    }
  };
}

/**
 * Resolves once a hanging attempt has seen its cancellation. Awaited before the result, so that no
 * time is skipped (and no heartbeat timeout fires) while the cancellation is on its way.
 */
async function abortedIn(hung: { cancelledAt?: number }): Promise<void> {
  await waitFor(() => hung.cancelledAt, 'the attempt in flight to be cancelled', WAIT_MS, 20);
}

/**
 * The activities as the worker registers them (same names, same signatures), every call
 * recorded. The n-th attempt answers with answers[n-1], the last one repeating.
 * requestCancellation does what the real one does: asks Temporal to cancel the calling run.
 */
class MockActivities {
  readonly attempts: AttemptCall[] = [];
  /** Wall-clock time at which each attempt ended, by index. */
  readonly attemptEndedAt: number[] = [];
  readonly outcomes: RecordOutcomeInput[] = [];
  /** The runs that asked Temporal to cancel them. */
  readonly cancellationsRequested: string[] = [];

  constructor(
    private readonly answers: readonly Answer[],
    private readonly onRecordOutcome: (input: RecordOutcomeInput) => Promise<void> = async () => undefined,
  ) {}

  readonly activities: Activities = {
    postWebhook: async (input: PostWebhookInput): Promise<PostWebhookResult> => {
      const { info } = Context.current();
      const startedAt = Date.now();
      const at = await env.currentTimeMs();
      // A local attempt's schedule time is the worker's clock, a regular one's the server's.
      const windowEndsAt = info.isLocal
        ? at - (Date.now() - info.scheduledTimestampMs) + info.scheduleToCloseTimeoutMs
        : info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs;
      const runId = info.workflowExecution?.runId ?? '';
      const call: AttemptCall = {
        input,
        isLocal: info.isLocal,
        attempt: info.attempt,
        runId,
        at,
        startedAt,
        windowEndsAt,
      };
      const index = this.attempts.push(call) - 1;
      const answer = this.answers[Math.min(index, this.answers.length - 1)] ?? delivered;
      try {
        await answer(call);
        return { statusCode: 200, durationMs: 1, attempt: index + 1 };
      } finally {
        this.attemptEndedAt[index] = Date.now();
      }
    },
    recordOutcome: async (input: RecordOutcomeInput): Promise<void> => {
      this.outcomes.push(input);
      await this.onRecordOutcome(input);
    },
    requestCancellation: async (): Promise<void> => {
      const run = Context.current().info.workflowExecution;
      if (!run) throw new Error('requestCancellation runs for a workflow only');
      this.cancellationsRequested.push(run.runId);
      await env.client.workflow.getHandle(run.workflowId, run.runId).cancel();
    },
  };

  /** Resolves once `count` attempts have started (in real time: no time is skipped meanwhile). */
  async attempted(count: number): Promise<void> {
    await waitFor(() => (this.attempts.length >= count ? true : undefined), `${count} attempts`, WAIT_MS, 20);
  }

  /** Which kind of attempt each call was, and what it was told of the attempts before it. */
  get kinds(): string[] {
    return this.attempts.map((a) => `${a.isLocal ? 'local' : 'activity'}#${a.attempt}+${a.input.attemptsBefore ?? 0}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Starting deliveries

type StartOptions = ReturnType<typeof deliveryStartOptions>;

interface Delivery {
  readonly deliveryId: string;
  readonly handle: WorkflowHandle<typeof deliveryWorkflow>;
  /** The run the test started. */
  readonly runId: string;
  readonly options: StartOptions;
}

/** The start options the service uses (workflow id, search attributes, input), on this test's queue. */
function startOptions(taskQueue: string, policy: Partial<DeliveryRetryPolicy>): StartOptions {
  const id = randomUUID().slice(0, 8);
  return deliveryStartOptions(
    {
      deliveryId: `dlv_${id}`,
      eventId: `evt_${id}`,
      eventType: 'order.created',
      subscriptionId: `sub_${id}`,
      accountId: null,
      url: 'https://receiver.example/webhook',
      retryPolicy: withDefaults(policy),
    },
    { taskQueue, attemptTimeoutMs: 1_000 },
    WorkflowIdReusePolicy.REJECT_DUPLICATE,
  );
}

interface DeliveryOptions {
  /** The retry policy's settings besides the defaults. */
  readonly policy?: Partial<DeliveryRetryPolicy>;
  /** Start it with the cancel signal, as DeliveryControl does for a delivery still in the outbox. */
  readonly cancelledBeforeStart?: boolean;
  /** Workflow task timeout: a local activity running longer than ~80% of it hands new messages over. */
  readonly workflowTaskTimeout?: string;
}

/**
 * Runs `body` with a worker of its own (a fresh task queue) serving the real workflow bundle and
 * the mocks, and a delivery started on it the way the service starts one.
 */
async function withDelivery(
  mocks: MockActivities,
  options: DeliveryOptions,
  body: (delivery: Delivery) => Promise<void>,
): Promise<void> {
  const taskQueue = `delivery-wf-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: mocks.activities,
    // Heartbeats reach Temporal every 200 ms instead of every 2.4 s (80% of the heartbeat
    // timeout), so a cancellation reaches an attempt in flight sooner; nothing else changes.
    maxHeartbeatThrottleInterval: '200ms',
  });
  await worker.runUntil(async () => {
    const start: StartOptions = {
      ...startOptions(taskQueue, options.policy ?? {}),
      ...(options.workflowTaskTimeout ? { workflowTaskTimeout: options.workflowTaskTimeout } : {}),
    };
    let handle: WorkflowHandle<typeof deliveryWorkflow>;
    let runId: string;
    if (options.cancelledBeforeStart) {
      const started = await env.client.workflow.signalWithStart<typeof deliveryWorkflow, []>('deliveryWorkflow', {
        ...start,
        signal: cancelSignal,
        signalArgs: [],
      });
      [handle, runId] = [started, started.signaledRunId];
    } else {
      const started = await env.client.workflow.start<typeof deliveryWorkflow>('deliveryWorkflow', start);
      [handle, runId] = [started, started.firstExecutionRunId];
    }
    const [input] = start.args;
    await body({ deliveryId: input.deliveryId, handle, runId, options: start });
  });
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

async function historyOf(handle: WorkflowHandle, runId?: string): Promise<HistoryEvent[]> {
  const run = runId === undefined ? handle : env.client.workflow.getHandle(handle.workflowId, runId);
  return (await run.fetchHistory()).events ?? [];
}

/** Resolves once the workflow waits on a timer (the wait before its next attempt). */
async function waitingOnTimer(handle: WorkflowHandle): Promise<void> {
  await waitFor(
    async () => ((await historyOf(handle)).some((e) => e.timerStartedEventAttributes) ? true : undefined),
    'a timer started',
    WAIT_MS,
    50,
  );
}

// ---------------------------------------------------------------------------------------------
// How each ending shows, in one place: Temporal's status tells the outcome (patch native-outcome).

/**
 * Delivered: the workflow completes with the state; the attempt recorded the success itself, so
 * no recordOutcome and no status search attribute.
 */
async function expectSucceeded(delivery: Delivery, mocks: MockActivities): Promise<DeliveryState> {
  const state = await delivery.handle.result();
  expect(state).toMatchObject({ deliveryId: delivery.deliveryId, status: 'succeeded', reason: null });
  expect(mocks.outcomes).toEqual([]);
  expect(mocks.cancellationsRequested).toEqual([]);
  const description = await delivery.handle.describe();
  expect(description.status.name).toBe('COMPLETED');
  expect(description.typedSearchAttributes.get(DELIVERY_STATUS)).toBeUndefined();
  return state;
}

/**
 * Failed: the workflow ends Failed with a non-retryable ApplicationFailure whose type says why and
 * whose message is the reason, with the state in its details; the outcome is recorded first.
 */
async function expectFailed(
  delivery: Delivery,
  mocks: MockActivities,
  type: DeliveryFailureType,
  reason: string | RegExp,
): Promise<DeliveryState> {
  const error = await delivery.handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const failure = (error as WorkflowFailedError).cause;
  expect(failure).toBeInstanceOf(ApplicationFailure);
  expect(failure).toMatchObject({ type, nonRetryable: true });
  if (typeof reason === 'string') expect(failure?.message).toBe(reason);
  else expect(failure?.message).toMatch(reason);
  const state = (failure as ApplicationFailure).details?.[0] as DeliveryState;
  expect(state).toMatchObject({ deliveryId: delivery.deliveryId, status: 'failed', reason: failure?.message });
  await expectRecorded(delivery, mocks, 'failed', 'FAILED', failure?.message ?? null);
  expect(mocks.cancellationsRequested).toEqual([]);
  return state;
}

/**
 * Cancelled: the workflow ends Canceled. When an operator's cancel (signal or update) or the
 * subscription's removal stopped it, the run asked Temporal for that cancellation itself; when
 * Temporal's own cancellation stopped it, it did not need to. The outcome is recorded first.
 */
async function expectCancelled(
  delivery: Delivery,
  mocks: MockActivities,
  by: 'the workflow' | 'Temporal',
  reason = 'cancelled by an operator',
): Promise<DeliveryState> {
  const error = await delivery.handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WorkflowFailedError);
  expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  await expectRecorded(delivery, mocks, 'cancelled', 'CANCELLED', reason);
  const runId = (await delivery.handle.describe()).runId;
  expect(mocks.cancellationsRequested).toEqual(by === 'the workflow' ? [runId] : []);
  const state = await delivery.handle.query(statusQuery);
  expect(state).toMatchObject({ deliveryId: delivery.deliveryId, status: 'cancelled', reason });
  return state;
}

/** The outcome recorded once, with its reason (for the operational event of a failed delivery), and Temporal's status. */
async function expectRecorded(
  delivery: Delivery,
  mocks: MockActivities,
  status: DeliveryStatus,
  executionStatus: string,
  reason: string | null,
): Promise<void> {
  expect(mocks.outcomes).toEqual([{ deliveryId: delivery.deliveryId, status, reason }]);
  const description = await delivery.handle.describe();
  expect(description.status.name).toBe(executionStatus);
  expect(description.typedSearchAttributes.get(DELIVERY_STATUS)).toBe(status);
}

// ---------------------------------------------------------------------------------------------

describe('success', () => {
  test('a 2xx on the first attempt: one local attempt, no activity task, no timer, no recordOutcome', async () => {
    const mocks = new MockActivities([delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      const state = await expectSucceeded(delivery, mocks);
      expect(state.resends).toBe(0);
      expect(Date.parse(state.windowEndsAt) - Date.parse(state.windowStartedAt)).toBe(MAX_DELIVERY_WINDOW_MS);
      expect(mocks.kinds).toEqual(['local#1+0']);
      expect(mocks.attempts[0]?.input).toEqual({
        deliveryId: delivery.deliveryId,
        retryPolicy: DEFAULT_RETRY_POLICY,
        attemptTimeoutMs: 1_000,
        attemptsBefore: 0,
      });
      const events = await historyOf(delivery.handle);
      expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(0);
      expect(events.filter((e) => e.timerStartedEventAttributes)).toHaveLength(0);
    });
  });

  test('retryable failures, then a 2xx: the regular activity takes over after the local attempt, each wait as the attempt before asked', async () => {
    const mocks = new MockActivities([
      fails({ reason: 'receiver answered HTTP 429', retryAfterMs: 5 * MINUTE_MS }), // local: Retry-After 5 min
      fails(), // activity attempt 1: the policy's backoff after attempt 2 (20 s)
      fails({ reason: 'receiver answered HTTP 503', retryAfterMs: HOUR_MS }), // activity attempt 2: Retry-After 1 h
      delivered,
    ]);
    await withDelivery(mocks, {}, async (delivery) => {
      await expectSucceeded(delivery, mocks);
      expect(mocks.kinds).toEqual(['local#1+0', 'activity#1+1', 'activity#2+1', 'activity#3+1']);
      const [local, first, second, third] = mocks.attempts.map((a) => a.at) as [number, number, number, number];
      // Workflow time between attempts: what each failed attempt asked for, not more than a minute late.
      expect(first - local).toBeGreaterThanOrEqual(5 * MINUTE_MS);
      expect(first - local).toBeLessThan(6 * MINUTE_MS);
      expect(second - first).toBeGreaterThanOrEqual(backoffAfterAttempt(DEFAULT_RETRY_POLICY, 2));
      expect(second - first).toBeLessThan(MINUTE_MS);
      expect(third - second).toBeGreaterThanOrEqual(HOUR_MS);
      expect(third - second).toBeLessThan(HOUR_MS + MINUTE_MS);
    });
  });
});

/**
 * What postWebhook throws when it posts nothing: the attempts made so far and, for a throttled
 * subscription, its slot `slotInMs` after the call (workflow time).
 */
const findsNotSent =
  (type: typeof SUBSCRIPTION_PAUSED | typeof SUBSCRIPTION_THROTTLED, slotInMs?: number): Answer =>
  async (call) => {
    const details: NotSentDetails = {
      attemptsMade: (call.input.attemptsBefore ?? 0) + call.attempt - 1,
      ...(slotInMs !== undefined ? { sendAt: call.at + slotInMs } : {}),
    };
    throw ApplicationFailure.create({
      message: `nothing was posted (${type})`,
      type,
      nonRetryable: true,
      details: [details],
      category: ApplicationFailureCategory.BENIGN,
    });
  };
const findsPaused = findsNotSent(SUBSCRIPTION_PAUSED);
const findsThrottled = (slotInMs: number): Answer => findsNotSent(SUBSCRIPTION_THROTTLED, slotInMs);

describe('a paused subscription', () => {
  test('the first attempt finds it paused: the run waits for the resume signal, then attempts again, counting nothing', async () => {
    const mocks = new MockActivities([findsPaused, delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      await waitFor(() => mocks.attempts.length >= 1 || undefined, 'the paused attempt', WAIT_MS);
      await delivery.handle.signal(resumeSignal);
      await expectSucceeded(delivery, mocks);
      expect(mocks.kinds).toEqual(['local#1+0', 'local#1+0']);
      const [paused, resumed] = mocks.attempts.map((a) => a.at) as [number, number];
      // Woken by the signal, not by the minute's look again.
      expect(resumed - paused).toBeLessThan(MINUTE_MS);
    });
  });

  test('a retry finds it paused: the run waits, and the next attempt counts on from the attempts made', async () => {
    const mocks = new MockActivities([failsRetryingIn(0), findsPaused, delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      await waitFor(() => mocks.attempts.length >= 2 || undefined, 'the paused retry', WAIT_MS);
      await delivery.handle.signal(resumeSignal);
      await expectSucceeded(delivery, mocks);
      expect(mocks.kinds).toEqual(['local#1+0', 'activity#1+1', 'activity#1+1']);
    });
  });

  test('with no resume signal, the run looks again after a minute', async () => {
    const mocks = new MockActivities([findsPaused, findsPaused, delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      await expectSucceeded(delivery, mocks);
      expect(mocks.kinds).toEqual(['local#1+0', 'local#1+0', 'local#1+0']);
      const [first, second] = mocks.attempts.map((a) => a.at) as [number, number];
      expect(second - first).toBeGreaterThanOrEqual(MINUTE_MS);
    });
  });
});

describe('a throttled subscription', () => {
  test('the first attempt finds its turn to come: the run waits until SLOT_LEAD_MS before its slot, then the regular activity asks holding it, counting nothing', async () => {
    const mocks = new MockActivities([findsThrottled(30 * MINUTE_MS), delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      await expectSucceeded(delivery, mocks);
      expect(mocks.kinds).toEqual(['local#1+0', 'activity#1+0']);
      const [throttled, sent] = mocks.attempts as [AttemptCall, AttemptCall];
      expect(throttled.input.reservedSlotAt).toBeUndefined();
      expect(sent.input.reservedSlotAt).toBe(throttled.at + 30 * MINUTE_MS);
      expect(sent.at).toBeGreaterThanOrEqual(throttled.at + 30 * MINUTE_MS - SLOT_LEAD_MS);
      expect(sent.at).toBeLessThan(throttled.at + 31 * MINUTE_MS);
    });
  });

  test('a retry finds its turn to come: the run waits for the slot, and the next attempt counts on', async () => {
    const mocks = new MockActivities([failsRetryingIn(0), findsThrottled(MINUTE_MS), delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      await expectSucceeded(delivery, mocks);
      expect(mocks.kinds).toEqual(['local#1+0', 'activity#1+1', 'activity#1+1']);
      const [, throttled, sent] = mocks.attempts as [AttemptCall, AttemptCall, AttemptCall];
      expect(sent.input.reservedSlotAt).toBe(throttled.at + MINUTE_MS);
      expect(sent.at).toBeGreaterThanOrEqual(throttled.at + MINUTE_MS - SLOT_LEAD_MS);
    });
  });

  test('a slot after the retry window closes: Failed (RetryWindowClosed) without waiting for it', async () => {
    const mocks = new MockActivities([findsThrottled(49 * HOUR_MS)]);
    await withDelivery(mocks, {}, async (delivery) => {
      await expectFailed(
        delivery,
        mocks,
        DELIVERY_FAILURE_TYPES.retryWindowClosed,
        'no attempt left in the retry window',
      );
      expect(mocks.kinds).toEqual(['local#1+0']);
    });
  });
});

describe('final failures', () => {
  test.each([
    ['rejected', DELIVERY_FAILURE_TYPES.receiverRejected],
    ['refused', DELIVERY_FAILURE_TYPES.targetRefused],
  ] as const)('the first attempt %s: Failed (%s) after that one attempt', async (kind, type) => {
    const mocks = new MockActivities([failsFinally(kind)]);
    await withDelivery(mocks, {}, async (delivery) => {
      await expectFailed(delivery, mocks, type, FINAL[kind].message);
      expect(mocks.kinds).toEqual(['local#1+0']);
    });
  });

  test('the subscription gone at the first attempt: Canceled, with the reason in the state', async () => {
    const mocks = new MockActivities([failsFinally('gone')]);
    await withDelivery(mocks, {}, async (delivery) => {
      await expectCancelled(delivery, mocks, 'the workflow', FINAL.gone.message);
      expect(mocks.kinds).toEqual(['local#1+0']);
    });
  });

  test('a 4xx on a retry (the regular activity): Failed (ReceiverRejected), and Temporal does not retry it', async () => {
    const mocks = new MockActivities([failsRetryingIn(10_000), fails(), failsFinally('rejected')]);
    await withDelivery(mocks, {}, async (delivery) => {
      await expectFailed(delivery, mocks, DELIVERY_FAILURE_TYPES.receiverRejected, FINAL.rejected.message);
      expect(mocks.kinds).toEqual(['local#1+0', 'activity#1+1', 'activity#2+1']);
    });
  });

  test('the subscription gone on a retry: Canceled', async () => {
    const mocks = new MockActivities([failsRetryingIn(10_000), failsFinally('gone')]);
    await withDelivery(mocks, {}, async (delivery) => {
      await expectCancelled(delivery, mocks, 'the workflow', FINAL.gone.message);
      expect(mocks.kinds).toEqual(['local#1+0', 'activity#1+1']);
    });
  });

  test('maximumAttempts counts the local attempt: 3 means the local one and two activity attempts', async () => {
    const mocks = new MockActivities([fails()]);
    await withDelivery(mocks, { policy: { maximumAttempts: 3 } }, async (delivery) => {
      await expectFailed(delivery, mocks, DELIVERY_FAILURE_TYPES.attemptsExhausted, 'receiver answered HTTP 500');
      expect(mocks.kinds).toEqual(['local#1+0', 'activity#1+1', 'activity#2+1']);
    });
  });

  test('maximumAttempts 1: the local attempt, failed retryably with no next attempt, ends it', async () => {
    const mocks = new MockActivities([fails()]);
    await withDelivery(mocks, { policy: { maximumAttempts: 1 } }, async (delivery) => {
      await expectFailed(delivery, mocks, DELIVERY_FAILURE_TYPES.attemptsExhausted, 'receiver answered HTTP 500');
      expect(mocks.kinds).toEqual(['local#1+0']);
    });
  });
});

describe('the retry window', () => {
  /** Workflow-time offsets at which the default policy makes its attempts within the window. */
  function plannedAttempts(): number[] {
    const offsets = [0];
    for (let attempt = 1; ; attempt += 1) {
      const next = nextAttemptAt({
        policy: DEFAULT_RETRY_POLICY,
        attempt,
        now: offsets[attempt - 1]!,
        windowEndsAt: MAX_DELIVERY_WINDOW_MS,
      });
      if (next === null) return offsets;
      offsets.push(next);
    }
  }

  test('a receiver that always fails: retried under the default policy until no attempt fits in 48 h', async () => {
    const planned = plannedAttempts();
    const mocks = new MockActivities([fails()]);
    await withDelivery(mocks, {}, async (delivery) => {
      // Awaiting the result skips the waits: two days of workflow time in a second or so.
      const state = await expectFailed(
        delivery,
        mocks,
        DELIVERY_FAILURE_TYPES.retryWindowClosed,
        /^no attempt left in the retry window; last attempt: receiver answered HTTP 500/,
      );
      expect(Date.parse(state.windowEndsAt) - Date.parse(state.windowStartedAt)).toBe(MAX_DELIVERY_WINDOW_MS);
      expect(mocks.attempts.length).toBe(planned.length);
      expect(mocks.attempts[0]?.isLocal).toBe(true);
      expect(mocks.attempts.slice(1).every((a) => !a.isLocal && a.input.attemptsBefore === 1)).toBe(true);
      const first = mocks.attempts[0]!.at;
      const last = mocks.attempts[mocks.attempts.length - 1]!.at;
      expect(last - first).toBeLessThan(MAX_DELIVERY_WINDOW_MS);
      expect(Math.abs(last - first - planned[planned.length - 1]!)).toBeLessThan(MINUTE_MS);
    });
  });

  test('a first attempt whose Retry-After reaches past the window: Failed at once, the window named', async () => {
    const mocks = new MockActivities([
      fails({ reason: 'receiver answered HTTP 503', retryAfterMs: MAX_DELIVERY_WINDOW_MS }),
    ]);
    await withDelivery(mocks, {}, async (delivery) => {
      await expectFailed(
        delivery,
        mocks,
        DELIVERY_FAILURE_TYPES.retryWindowClosed,
        'no attempt left in the retry window; last attempt: receiver answered HTTP 503',
      );
      expect(mocks.kinds).toEqual(['local#1+0']);
    });
  });

  test('a window that closes while the first attempt hangs: the attempt is cut, the delivery Failed', async () => {
    const hung: { cancelledAt?: number } = {};
    const mocks = new MockActivities([hangs(hung)]);
    await withDelivery(mocks, { policy: { maxDurationMs: 1_500 } }, async (delivery) => {
      await expectFailed(
        delivery,
        mocks,
        DELIVERY_FAILURE_TYPES.retryWindowClosed,
        'no attempt left in the retry window',
      );
      expect(mocks.kinds).toEqual(['local#1+0']);
      expect(hung.cancelledAt).toBeDefined();
    });
  });
});

describe('cancel', () => {
  test.each(['signal', 'update'] as const)(
    'the cancel %s while waiting for the next attempt: Canceled, no further attempt',
    async (how) => {
      const mocks = new MockActivities([failsRetryingIn(HOUR_MS), delivered]);
      await withDelivery(mocks, {}, async (delivery) => {
        await waitingOnTimer(delivery.handle);
        expect(await delivery.handle.query(statusQuery)).toMatchObject({ status: 'pending', reason: null });
        if (how === 'signal') await delivery.handle.signal(cancelSignal);
        else await delivery.handle.executeUpdate(cancelUpdate);
        await expectCancelled(delivery, mocks, 'the workflow');
        expect(mocks.kinds).toEqual(['local#1+0']);
      });
    },
  );

  test('the cancel signal while an attempt is in flight: the attempt is aborted, the workflow waits for it to stop', async () => {
    const hung: { cancelledAt?: number } = {};
    const mocks = new MockActivities([failsRetryingIn(100), hangs(hung), delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      await mocks.attempted(2);
      await delivery.handle.signal(cancelSignal);
      await abortedIn(hung);
      await expectCancelled(delivery, mocks, 'the workflow');
      expect(mocks.kinds).toEqual(['local#1+0', 'activity#1+1']);
      const events = await historyOf(delivery.handle);
      expect(events.some((e) => e.activityTaskCanceledEventAttributes)).toBe(true);
    });
  });

  test("Temporal's own cancellation (the UI's button) while an attempt is in flight: Canceled, no request of its own", async () => {
    const hung: { cancelledAt?: number } = {};
    const mocks = new MockActivities([failsRetryingIn(100), hangs(hung), delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      await mocks.attempted(2);
      await delivery.handle.cancel();
      await abortedIn(hung);
      await expectCancelled(delivery, mocks, 'Temporal');
      expect(mocks.kinds).toEqual(['local#1+0', 'activity#1+1']);
    });
  });

  test("Temporal's own cancellation while waiting for the next attempt: Canceled", async () => {
    const mocks = new MockActivities([failsRetryingIn(HOUR_MS), delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      await waitingOnTimer(delivery.handle);
      await delivery.handle.cancel();
      await expectCancelled(delivery, mocks, 'Temporal');
      expect(mocks.kinds).toEqual(['local#1+0']);
    });
  });

  test('a cancel that starts the workflow (signal-with-start, as for a delivery still in the outbox): no attempt at all', async () => {
    const mocks = new MockActivities([delivered]);
    await withDelivery(mocks, { cancelledBeforeStart: true }, async (delivery) => {
      await expectCancelled(delivery, mocks, 'the workflow');
      expect(mocks.attempts).toEqual([]);
    });
  });
});

describe('resend', () => {
  test.each(['signal', 'update'] as const)(
    'by %s while waiting for the next attempt: the backoff is skipped, a new run of attempts starts at once',
    async (how) => {
      const mocks = new MockActivities([failsRetryingIn(HOUR_MS), delivered]);
      await withDelivery(mocks, {}, async (delivery) => {
        await waitingOnTimer(delivery.handle);
        if (how === 'signal') await delivery.handle.signal(resendSignal);
        else await delivery.handle.executeUpdate(resendUpdate);
        // Time is not skipped until the result is awaited: only the resend can bring attempt 2 now.
        await mocks.attempted(2);
        const state = await expectSucceeded(delivery, mocks);
        expect(state.resends).toBe(1);
        expect(mocks.kinds).toEqual(['local#1+0', 'local#1+0']);
        expect(mocks.attempts[1]!.at - mocks.attempts[0]!.at).toBeLessThan(WAIT_MS);
        const events = await historyOf(delivery.handle);
        expect(events.filter((e) => e.timerCanceledEventAttributes)).toHaveLength(1);
        expect(events.filter((e) => e.timerFiredEventAttributes)).toHaveLength(0);
      });
    },
  );

  test('while an attempt is in flight: it is aborted, and the next starts only once it has stopped', async () => {
    const hung: { cancelledAt?: number } = {};
    const mocks = new MockActivities([failsRetryingIn(100), hangs(hung), delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      await mocks.attempted(2);
      await delivery.handle.signal(resendSignal);
      await mocks.attempted(3);
      const state = await expectSucceeded(delivery, mocks);
      expect(state.resends).toBe(1);
      expect(mocks.kinds).toEqual(['local#1+0', 'activity#1+1', 'local#1+0']);
      expect(hung.cancelledAt).toBeDefined();
      // Two attempts of one delivery never overlap.
      expect(mocks.attemptEndedAt[1]).toBeLessThanOrEqual(mocks.attempts[2]!.startedAt);
    });
  });

  test(`a run that took ${RESENDS_PER_RUN} resends continues as new, keeping its window and its count`, async () => {
    const mocks = new MockActivities([failsRetryingIn(HOUR_MS)]);
    await withDelivery(mocks, {}, async (delivery) => {
      await waitingOnTimer(delivery.handle);
      const before = await delivery.handle.query(statusQuery);
      for (let i = 0; i < RESENDS_PER_RUN; i += 1) await delivery.handle.signal(resendSignal);
      await waitFor(
        async () => ((await delivery.handle.describe()).runId !== delivery.runId ? true : undefined),
        'the run to continue as new',
        WAIT_MS,
      );
      const firstRun = await historyOf(delivery.handle, delivery.runId);
      expect(firstRun[firstRun.length - 1]?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
      // The new run makes its own first attempt, then waits; what it carries over shows in its state.
      const newRunId = (await delivery.handle.describe()).runId;
      await waitFor(() => (mocks.attempts.at(-1)?.runId === newRunId ? true : undefined), 'an attempt of the new run');
      const after = await delivery.handle.query(statusQuery);
      expect(after).toMatchObject({
        status: 'pending',
        resends: RESENDS_PER_RUN,
        windowStartedAt: before.windowStartedAt,
        windowEndsAt: before.windowEndsAt,
      });
      await delivery.handle.cancel();
      await expectCancelled(delivery, mocks, 'Temporal');
    });
  });

  test('after the workflow ended: signal and update are refused by Temporal; a new run (what the API starts) delivers again', async () => {
    const mocks = new MockActivities([failsFinally('rejected'), delivered]);
    await withDelivery(mocks, {}, async (delivery) => {
      const failed = await expectFailed(
        delivery,
        mocks,
        DELIVERY_FAILURE_TYPES.receiverRejected,
        FINAL.rejected.message,
      );
      // The closed run takes no message.
      await expect(delivery.handle.signal(resendSignal)).rejects.toBeInstanceOf(WorkflowNotFoundError);
      await expect(delivery.handle.executeUpdate(resendUpdate)).rejects.toBeInstanceOf(WorkflowNotFoundError);

      // DeliveryControl.resend: a new run of the same workflow id, once the old one has closed.
      const again = await env.client.workflow.start<typeof deliveryWorkflow>('deliveryWorkflow', {
        ...delivery.options,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      const state = await again.result();
      // A run of its own with a window of its own; the success is recorded by the attempt, so the
      // failed run's recordOutcome stays the only one.
      expect(again.firstExecutionRunId).not.toBe(delivery.runId);
      expect(state).toMatchObject({ status: 'succeeded', reason: null, resends: 0 });
      expect(Date.parse(state.windowStartedAt)).toBeGreaterThanOrEqual(Date.parse(failed.windowStartedAt));
      expect(mocks.outcomes).toEqual([
        { deliveryId: delivery.deliveryId, status: 'failed', reason: 'receiver answered HTTP 404' },
      ]);
      expect(mocks.kinds).toEqual(['local#1+0', 'local#1+0']);
      expect(mocks.attempts.map((a) => a.runId)).toEqual([delivery.runId, again.firstExecutionRunId]);
    });
  });

  test('while the outcome is being recorded (still open, no longer pending): the signal is ignored, the updates refused with the reason', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let recording!: () => void;
    const recordingStarted = new Promise<void>((resolve) => (recording = resolve));
    const mocks = new MockActivities([failsFinally('rejected'), delivered], async () => {
      recording();
      await released;
    });
    // A short workflow task timeout: while recordOutcome runs, the worker hands new messages to
    // the workflow within about 0.8 s instead of 8.
    await withDelivery(mocks, { workflowTaskTimeout: '1s' }, async (delivery) => {
      await recordingStarted;
      await delivery.handle.signal(resendSignal);
      for (const [update, action] of [
        [resendUpdate, 'resend'],
        [cancelUpdate, 'cancel'],
      ] as const) {
        const refusal = await delivery.handle.executeUpdate(update).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(refusal).toBeInstanceOf(WorkflowUpdateFailedError);
        expect((refusal as WorkflowUpdateFailedError).cause).toMatchObject({
          type: 'DeliveryEnded',
          message: `cannot ${action}: the delivery already failed`,
        });
      }
      release();
      const state = await expectFailed(
        delivery,
        mocks,
        DELIVERY_FAILURE_TYPES.receiverRejected,
        FINAL.rejected.message,
      );
      expect(state.resends).toBe(0);
      expect(mocks.kinds).toEqual(['local#1+0']);
      const events = await historyOf(delivery.handle);
      const signalled = events.findIndex(
        (e) => e.workflowExecutionSignaledEventAttributes?.signalName === resendSignal.name,
      );
      expect(signalled).toBeGreaterThan(0);
      expect(signalled).toBeLessThan(events.length - 1);
    });
  });
});
