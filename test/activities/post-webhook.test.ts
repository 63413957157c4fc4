/**
 * The postWebhook activity on its own, in Temporal's MockActivityEnvironment: a real signed POST
 * through the worker's own HTTP agent and target connector to a loopback receiver, with the store
 * replaced by an in-memory implementation of its port (DeliveryRecords). What each answer means
 * for Temporal (the failure's type, retryability, delay and details) and what the attempt records.
 */
import { ApplicationFailure, ApplicationFailureCategory, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import type { Agent } from 'undici';
import { targetConnector } from '../../activities/connect';
import type { DeliveryRecords } from '../../activities/delivery-records';
import { createHttpAgent } from '../../activities/http';
import {
  createPostWebhook,
  USER_AGENT,
  type PostWebhookInput,
  type PostWebhookResult,
  type RetryDetails,
} from '../../activities/post-webhook';
import type {
  Attempt,
  AttemptContext,
  AttemptRecord,
  DeliveryStatus,
  RecordedAttempt,
  StatusChange,
  WebhookEvent,
} from '../../core/model';
import {
  DEFAULT_RETRY_POLICY,
  FINAL_FAILURE_TYPES,
  backoffAfterAttempt,
  type DeliveryRetryPolicy,
} from '../../core/retry-policy';
import { generateSecret } from '../../core/signing';
import { SLOT_TOLERANCE_MS, type SendTurn, type SendTurnRequest } from '../../core/throttle';
import type { TargetPolicy } from '../../core/targets';
import { always, TestReceiver } from '../helpers/receiver';
import { waitFor } from '../helpers/wait';

const HOUR_MS = 3_600_000;
const INSECURE: TargetPolicy = { allowInsecure: true };
/** The production rules: https only, no private or loopback address. */
const STRICT: TargetPolicy = { allowInsecure: false };

/** The store's side of an attempt, in memory: what DeliveryStore does, minus SQL. */
class MemoryDeliveryRecords implements DeliveryRecords {
  private readonly contexts = new Map<string, AttemptContext>();
  readonly statuses = new Map<string, DeliveryStatus>();
  readonly records = new Map<string, AttemptRecord[]>();

  add(context: AttemptContext): void {
    this.contexts.set(context.delivery.id, context);
    this.statuses.set(context.delivery.id, context.delivery.status);
  }

  async attemptContext(deliveryId: string): Promise<AttemptContext | undefined> {
    const context = this.contexts.get(deliveryId);
    if (!context) return undefined;
    const status = this.statuses.get(deliveryId) ?? 'pending';
    const attemptCount = this.records.get(deliveryId)?.length ?? 0;
    return { ...context, delivery: { ...context.delivery, status, attemptCount } };
  }

  async attemptsOf(deliveryIds: readonly string[]): Promise<Map<string, Attempt[]>> {
    return new Map(
      deliveryIds.map((id) => [
        id,
        (this.records.get(id) ?? []).map((r, i): Attempt => ({
          attempt: i + 1,
          startedAt: r.startedAt,
          durationMs: r.durationMs,
          statusCode: r.statusCode,
          error: r.error,
          responseBody: r.responseBody,
        })),
      ]),
    );
  }

  async recordAttempt(deliveryId: string, record: AttemptRecord): Promise<RecordedAttempt> {
    const records = this.records.get(deliveryId) ?? [];
    records.push(record);
    this.records.set(deliveryId, records);
    if (record.delivered) this.statuses.set(deliveryId, 'succeeded');
    // Subscription health is the store's (test/integration/subscription-health.test.ts).
    return { attempt: records.length, health: null };
  }

  /** The next free slot of each throttled subscription, as DeliveryStore keeps it. */
  private readonly nextSlots = new Map<string, number>();

  async takeSendTurn({ subscriptionId, heldSlotAt }: SendTurnRequest): Promise<SendTurn> {
    const context = [...this.contexts.values()].find((c) => c.delivery.subscriptionId === subscriptionId);
    const rate = context?.subscriptionThrottleRate ?? null;
    if (rate === null) return { kind: 'now', decision: null };
    if (heldSlotAt !== undefined) return { kind: 'now', decision: new Date().toISOString() };
    const slot = Math.max(this.nextSlots.get(subscriptionId) ?? 0, Date.now());
    this.nextSlots.set(subscriptionId, slot + 1000 / rate);
    return slot <= Date.now() + SLOT_TOLERANCE_MS
      ? { kind: 'now', decision: new Date().toISOString() }
      : { kind: 'wait', slotAt: slot };
  }

  async setStatus(deliveryId: string, status: DeliveryStatus): Promise<StatusChange | undefined> {
    const context = this.contexts.get(deliveryId);
    const previous = this.statuses.get(deliveryId);
    this.statuses.set(deliveryId, status);
    return context && previous ? { previous, eventType: context.event.type } : undefined;
  }
}

let receiver: TestReceiver;
let agents: Agent[] = [];
let records: MemoryDeliveryRecords;
let sequence = 0;

beforeAll(async () => {
  receiver = await TestReceiver.start();
});

beforeEach(() => {
  records = new MemoryDeliveryRecords();
  receiver.requests.length = 0;
  receiver.script = always(200);
});

afterEach(async () => {
  await Promise.all(agents.map((agent) => agent.close()));
  agents = [];
});

afterAll(async () => {
  await receiver?.close();
});

/** The activity as the worker wires it: its own agent, the target connector, the given rules. */
function postWebhookUnder(targets: TargetPolicy) {
  const http = createHttpAgent(targetConnector({ policy: targets }));
  agents.push(http);
  return createPostWebhook({ deliveries: records, http, logger: pino({ level: 'silent' }), targets });
}

interface Subject {
  readonly deliveryId: string;
  readonly event: WebhookEvent;
  readonly secret: string;
}

/** A pending delivery of a fresh event to `url`, in the store. */
function delivery(overrides: Partial<AttemptContext> & { url?: string } = {}): Subject {
  sequence += 1;
  const event: WebhookEvent = {
    id: `evt_test${sequence}`,
    type: 'order.created',
    accountId: 'acme',
    data: { orderId: sequence },
    callbackUrl: null,
    createdAt: new Date('2026-01-02T03:04:05.000Z'),
  };
  const secret = generateSecret();
  const url = overrides.url ?? receiver.url;
  const deliveryId = `dlv_test${sequence}`;
  records.add({
    delivery: {
      id: deliveryId,
      eventId: event.id,
      eventType: event.type,
      subscriptionId: `sub_test${sequence}`,
      accountId: event.accountId,
      url,
      status: 'pending',
      attemptCount: 0,
      nextAttemptAt: null,
      workflowId: `delivery/${event.id}/sub_test${sequence}`,
      fastPathRun: null,
      createdAt: new Date(),
      updatedAt: new Date(),
    },
    event,
    url,
    headers: { 'x-tenant': 'acme' },
    secret,
    previousSecret: null,
    subscriptionActive: true,
    subscriptionDisabledReason: null,
    subscriptionPaused: false,
    subscriptionThrottleRate: null,
    ...overrides,
  });
  return { deliveryId, event, secret };
}

function input(deliveryId: string, extra: Partial<PostWebhookInput> = {}): PostWebhookInput {
  return { deliveryId, retryPolicy: DEFAULT_RETRY_POLICY, attemptTimeoutMs: 2_000, ...extra };
}

/** An activity environment whose retry window (schedule-to-close) opened now and lasts 48 h. */
function activityEnvironment(info: { attempt?: number; isLocal?: boolean } = {}): MockActivityEnvironment {
  return new MockActivityEnvironment({
    attempt: info.attempt ?? 1,
    isLocal: info.isLocal ?? false,
    scheduledTimestampMs: Date.now(),
    currentAttemptScheduledTimestampMs: Date.now(),
    scheduleToCloseTimeoutMs: DEFAULT_RETRY_POLICY.maxDurationMs,
    startToCloseTimeoutMs: 12_000,
    heartbeatTimeoutMs: 3_000,
  });
}

/** Runs one attempt in `env`. */
function attempt(
  env: MockActivityEnvironment,
  targets: TargetPolicy,
  args: PostWebhookInput,
): Promise<PostWebhookResult> {
  return env.run(postWebhookUnder(targets), args);
}

/** Runs the activity and returns what it threw (failing the test if it returned). */
async function failureOf(run: Promise<unknown>): Promise<ApplicationFailure> {
  const outcome = await run.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(ApplicationFailure);
  return outcome.error as ApplicationFailure;
}

const recordsOf = (deliveryId: string): AttemptRecord[] => records.records.get(deliveryId) ?? [];

describe('a 2xx', () => {
  test('returns, records the attempt as delivered, and the request is signed so that standardwebhooks verifies it', async () => {
    receiver.script = () => ({ status: 204, body: '' });
    const subject = delivery();
    const before = Date.now();
    const result = await attempt(activityEnvironment(), INSECURE, input(subject.deliveryId));

    expect(result).toEqual({ statusCode: 204, durationMs: expect.any(Number), attempt: 1 });
    expect(recordsOf(subject.deliveryId)).toEqual([
      {
        startedAt: expect.any(Date),
        durationMs: result.durationMs,
        statusCode: 204,
        error: null,
        responseBody: '',
        url: receiver.url,
        nextAttemptAt: null,
        delivered: true,
      },
    ]);
    expect(records.statuses.get(subject.deliveryId)).toBe('succeeded');

    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests as [(typeof receiver.requests)[number]];
    expect(request.method).toBe('POST');
    expect(request.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'x-tenant': 'acme',
      'webhook-id': subject.event.id,
    });
    const timestamp = Number(request.headers['webhook-timestamp']);
    expect(timestamp).toBeGreaterThanOrEqual(Math.floor(before / 1000));
    expect(timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    const payload = new Webhook(subject.secret).verify(request.body, request.headers as Record<string, string>);
    expect(payload).toEqual({
      id: subject.event.id,
      type: 'order.created',
      timestamp: '2026-01-02T03:04:05.000Z',
      accountId: 'acme',
      data: subject.event.data,
    });
    expect(() =>
      new Webhook(generateSecret()).verify(request.body, request.headers as Record<string, string>),
    ).toThrow();
  });

  test('during a secret rotation the request carries both signatures; each secret verifies it', async () => {
    const previous = generateSecret();
    const subject = delivery({ previousSecret: previous });
    await attempt(activityEnvironment(), INSECURE, input(subject.deliveryId));
    const [request] = receiver.requests as [(typeof receiver.requests)[number]];
    expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const secret of [subject.secret, previous]) {
      expect(() => new Webhook(secret).verify(request.body, request.headers as Record<string, string>)).not.toThrow();
    }
  });

  test('a delivery already succeeded answers with the recorded success and posts nothing', async () => {
    const subject = delivery();
    await records.recordAttempt(subject.deliveryId, {
      startedAt: new Date(),
      durationMs: 42,
      statusCode: 202,
      error: null,
      responseBody: 'accepted',
      url: receiver.url,
      nextAttemptAt: null,
      delivered: true,
    });
    const result = await attempt(activityEnvironment({ isLocal: true }), INSECURE, input(subject.deliveryId));
    expect(result).toEqual({ statusCode: 202, durationMs: 42, attempt: 1 });
    expect(recordsOf(subject.deliveryId)).toHaveLength(1);
    // The activity has returned: any request of it would have been answered by now.
    expect(receiver.requests).toHaveLength(0);
  });
});

describe('a 4xx', () => {
  test.each([400, 401, 403, 404, 410, 422])(
    '%i throws a non-retryable ReceiverRejected and records the attempt',
    async (status) => {
      receiver.script = always(status);
      const subject = delivery();
      const failure = await failureOf(attempt(activityEnvironment(), INSECURE, input(subject.deliveryId)));
      expect(failure).toMatchObject({
        type: FINAL_FAILURE_TYPES.receiverRejected,
        nonRetryable: true,
        category: ApplicationFailureCategory.BENIGN,
      });
      expect(failure.message).toMatch(new RegExp(`^receiver answered HTTP ${status} \\(attempt 1, \\d+ ms\\)$`));
      expect(recordsOf(subject.deliveryId)).toEqual([
        expect.objectContaining({
          statusCode: status,
          error: `receiver answered HTTP ${status}`,
          responseBody: 'ok',
          nextAttemptAt: null,
          delivered: false,
        }),
      ]);
      expect(records.statuses.get(subject.deliveryId)).toBe('pending');
    },
  );

  test.each([408, 429])('%i is retryable (later, not never)', async (status) => {
    receiver.script = always(status);
    const subject = delivery();
    const failure = await failureOf(attempt(activityEnvironment(), INSECURE, input(subject.deliveryId)));
    expect(failure).toMatchObject({ type: 'AttemptFailed', nonRetryable: false });
  });
});

describe('retryable answers', () => {
  test('500 throws a retryable AttemptFailed whose details say when the policy retries; the store knows the same', async () => {
    receiver.script = () => ({ status: 500, body: 'boom' });
    const subject = delivery();
    const policy: DeliveryRetryPolicy = DEFAULT_RETRY_POLICY;
    const before = Date.now();
    // Temporal's attempt 2 of the regular activity, after a local first attempt: attempt 3 of the run.
    const failure = await failureOf(
      attempt(activityEnvironment({ attempt: 2 }), INSECURE, input(subject.deliveryId, { attemptsBefore: 1 })),
    );
    const after = Date.now();
    expect(failure).toMatchObject({ type: 'AttemptFailed', nonRetryable: false, nextRetryDelay: undefined });
    expect(failure.message).toMatch(/^receiver answered HTTP 500 \(attempt 1, \d+ ms\)$/);
    const [details] = failure.details as [RetryDetails];
    const backoff = backoffAfterAttempt(policy, 3);
    expect(details.nextAttemptAt).toBeGreaterThanOrEqual(before + backoff);
    expect(details.nextAttemptAt).toBeLessThanOrEqual(after + backoff);
    expect(recordsOf(subject.deliveryId)).toEqual([
      expect.objectContaining({
        statusCode: 500,
        error: 'receiver answered HTTP 500',
        responseBody: 'boom',
        nextAttemptAt: new Date(details.nextAttemptAt!),
        delivered: false,
      }),
    ]);
  });

  test('500 when no attempt is left (maximumAttempts reached): retryable, with no next attempt', async () => {
    receiver.script = always(500);
    const subject = delivery();
    const failure = await failureOf(
      attempt(
        activityEnvironment({ attempt: 2 }),
        INSECURE,
        input(subject.deliveryId, { retryPolicy: { ...DEFAULT_RETRY_POLICY, maximumAttempts: 3 }, attemptsBefore: 1 }),
      ),
    );
    expect(failure.details).toEqual([{ nextAttemptAt: null }]);
    expect(recordsOf(subject.deliveryId)[0]?.nextAttemptAt).toBeNull();
  });

  test.each([
    [429, '120', 120_000],
    [503, '3600', HOUR_MS],
  ])('%i with Retry-After %s sets nextRetryDelay to what it asks', async (status, retryAfter, delayMs) => {
    receiver.script = always(status, { 'retry-after': retryAfter });
    const subject = delivery();
    const before = Date.now();
    const failure = await failureOf(attempt(activityEnvironment(), INSECURE, input(subject.deliveryId)));
    expect(failure).toMatchObject({ type: 'AttemptFailed', nonRetryable: false, nextRetryDelay: delayMs });
    const [details] = failure.details as [RetryDetails];
    expect(details.nextAttemptAt).toBeGreaterThanOrEqual(before + delayMs);
    expect(details.nextAttemptAt).toBeLessThanOrEqual(Date.now() + delayMs);
  });

  test('Retry-After as an HTTP date is honoured too; on a 500 it is ignored', async () => {
    const at = new Date(Date.now() + 10 * 60_000);
    receiver.script = always(503, { 'retry-after': at.toUTCString() });
    const dated = await failureOf(attempt(activityEnvironment(), INSECURE, input(delivery().deliveryId)));
    // HTTP dates have whole seconds.
    expect(dated.nextRetryDelay).toBeGreaterThan(10 * 60_000 - 2_000);
    expect(dated.nextRetryDelay).toBeLessThanOrEqual(10 * 60_000);

    receiver.script = always(500, { 'retry-after': '120' });
    const ignored = await failureOf(attempt(activityEnvironment(), INSECURE, input(delivery().deliveryId)));
    expect(ignored.nextRetryDelay).toBeUndefined();
  });

  test('a receiver that does not answer within the attempt timeout: retryable, nothing but the error recorded', async () => {
    receiver.script = () => ({ hang: true });
    const subject = delivery();
    const failure = await failureOf(
      attempt(activityEnvironment(), INSECURE, input(subject.deliveryId, { attemptTimeoutMs: 300 })),
    );
    expect(failure).toMatchObject({ type: 'AttemptFailed', nonRetryable: false });
    expect(recordsOf(subject.deliveryId)).toEqual([
      expect.objectContaining({ statusCode: null, responseBody: null, error: expect.stringMatching(/timeout|abort/i) }),
    ]);
    expect(recordsOf(subject.deliveryId)[0]?.durationMs).toBeGreaterThanOrEqual(290);
  });
});

describe('refusals before any request', () => {
  test('an http:// URL under the production target rules: non-retryable TargetRefused, no request sent', async () => {
    const subject = delivery();
    const failure = await failureOf(attempt(activityEnvironment(), STRICT, input(subject.deliveryId)));
    expect(failure).toMatchObject({ type: FINAL_FAILURE_TYPES.targetRefused, nonRetryable: true });
    expect(recordsOf(subject.deliveryId)).toEqual([
      expect.objectContaining({ statusCode: null, error: expect.stringMatching(/https/), delivered: false }),
    ]);
    // The attempt is over (refused and recorded): a request of it would have been received by now.
    expect(receiver.requests).toHaveLength(0);
  });

  test('an inactive subscription: non-retryable SubscriptionGone, nothing sent, nothing recorded', async () => {
    const subject = delivery({ subscriptionActive: false });
    const failure = await failureOf(attempt(activityEnvironment(), INSECURE, input(subject.deliveryId)));
    expect(failure).toMatchObject({
      type: FINAL_FAILURE_TYPES.subscriptionGone,
      nonRetryable: true,
      message: 'the subscription was deleted or deactivated',
    });
    expect(recordsOf(subject.deliveryId)).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
  });

  test('a delivery the store does not know: a plain error (a fault of ours, retried by Temporal)', async () => {
    const failure = await attempt(activityEnvironment(), INSECURE, input('dlv_unknown')).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(ApplicationFailure);
    expect((failure as Error).message).toMatch(/not in the store/);
  });
});

describe('cancellation', () => {
  test.each([
    ['an activity attempt, which heartbeats so that the cancel reaches it', false],
    ['a local first attempt, cancelled by its own worker', true],
  ])('aborts %s while the request is in flight; nothing is recorded', async (_name, isLocal) => {
    receiver.script = () => ({ hang: true });
    const subject = delivery();
    const env = activityEnvironment({ isLocal });
    let heartbeats = 0;
    env.on('heartbeat', () => (heartbeats += 1));
    const running = attempt(env, INSECURE, input(subject.deliveryId, { attemptTimeoutMs: 30_000 })).then(
      () => undefined,
      (error: unknown) => error,
    );
    await receiver.waitForRequests(1, 5_000);
    if (!isLocal) await waitFor(() => (heartbeats > 0 ? true : undefined), 'a heartbeat', 5_000, 20);
    const cancelledAt = Date.now();
    env.cancel();
    const error = await running;
    // Cut at once, far inside the 30 s attempt timeout.
    expect(Date.now() - cancelledAt).toBeLessThan(2_000);
    // The cancellation itself comes out, as the worker expects of a cancelled activity.
    expect(error).toBeInstanceOf(CancelledFailure);
    expect(recordsOf(subject.deliveryId)).toEqual([]);
    expect(isLocal ? heartbeats : heartbeats > 0).toBe(isLocal ? 0 : true);
  });
});
