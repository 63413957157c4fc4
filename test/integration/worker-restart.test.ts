/**
 * A worker killed with SIGKILL (no shutdown, no goodbye to Temporal) and started again: the real
 * `src/main.ts worker` as a child process, the API in this process, both on one PostgreSQL
 * database and a real Temporal dev server. Deliveries still complete, and the receiver gets
 * exactly one 2xx each.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  createTestDatabase,
  describeWithPostgres as describeWithPostgresServer,
  type TestDatabase,
} from '../helpers/postgres';
import type { deliveryWorkflow } from '../../workflows';
import { startHarness, type Harness } from '../helpers/harness';
import { sequence, TestReceiver, type Reply } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { spawnWorker, waitUntilPolling, type WorkerProcess } from '../helpers/worker-process';
import { FAST_RETRY } from '../helpers/retry-policies';

const describeWithPostgres = describeWithPostgresServer('worker-restart.test.ts');

/** Long enough that a hanging attempt is still in flight when the test kills its worker. */
const ATTEMPT_TIMEOUT_MS = 15_000;

describeWithPostgres('a worker killed mid-retry and started again', () => {
  let database: TestDatabase;
  let env: TestWorkflowEnvironment;
  let h: Harness;
  let worker: WorkerProcess | undefined;
  const receivers: TestReceiver[] = [];

  /** A new worker process on the harness's task queue, resolved once it polls. `worker` is the live one. */
  async function startWorker(): Promise<WorkerProcess> {
    const started = spawnWorker({
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      TEMPORAL_TASK_QUEUE: h.taskQueue,
      DATABASE_URL: database.url,
      WEBHOOKS_ALLOW_INSECURE_TARGETS: 'true',
      LOG_LEVEL: 'warn',
    });
    worker = started;
    void started.exited.then(() => {
      if (worker === started) worker = undefined;
    });
    await waitUntilPolling(h.client, h.taskQueue, started);
    return started;
  }

  async function killWorker(): Promise<void> {
    const exit = await worker!.kill('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
  }

  beforeAll(async () => {
    database = await createTestDatabase('worker_restart');
    env = await createTestTemporal();
    h = await startHarness({ env, db: database.db, worker: false, attemptTimeoutMs: ATTEMPT_TIMEOUT_MS });
  }, 60_000);

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await Promise.all(receivers.map((receiver) => receiver.close()));
    await h?.close();
    await env?.teardown();
    await database?.drop();
  });

  /** A receiver answering `replies` in turn, subscribed to an event type of its own, and one event of that type. */
  async function deliveryTo(
    type: string,
    replies: Reply[],
    retryPolicy: Record<string, unknown>,
  ): Promise<{ receiver: TestReceiver; deliveryId: string; workflowId: string }> {
    expect((await h.call('POST', '/v1/event-types', { id: type, description: type })).status).toBe(201);
    const receiver = await TestReceiver.start(sequence(...replies));
    receivers.push(receiver);
    const sub = await h.call('POST', '/v1/subscriptions', { url: receiver.url, eventTypes: [type], retryPolicy });
    expect(sub.status).toBe(201);
    const event = await h.call('POST', '/v1/events', { type, data: { orderId: 7 } });
    expect(event.status).toBe(202);
    const delivery = await waitFor(async () => {
      const res = await h.call('GET', `/v1/deliveries?eventId=${event.body.id}&subscriptionId=${sub.body.id}`);
      return res.body.data?.[0];
    }, 'the delivery row');
    return { receiver, deliveryId: delivery.id, workflowId: delivery.workflowId };
  }

  /**
   * The attempts Temporal counted: the local first attempt (a marker) and the postWebhook
   * activity's (its one started event carries the last).
   */
  async function temporalAttempts(workflowId: string): Promise<number> {
    const events = (await h.client.workflow.getHandle<typeof deliveryWorkflow>(workflowId).fetchHistory()).events ?? [];
    const local = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
    return (
      local +
      (events.find((e) => e.activityTaskStartedEventAttributes)?.activityTaskStartedEventAttributes?.attempt ?? 0)
    );
  }

  /** The 2xx answers the receiver gave. */
  const successes = (receiver: TestReceiver, replies: Reply[]): number =>
    receiver.requests.filter((_request, i) => replies[Math.min(i, replies.length - 1)]?.status === 200).length;

  test('one delivery between retries, another mid-attempt: both complete on the new worker, one 2xx each', async () => {
    await startWorker();
    // B: a 500, then a request that hangs (cut by the attempt timeout only after 15 s), then 200.
    const repliesB: Reply[] = [{ status: 500 }, { hang: true }, { status: 200 }];
    const b = await deliveryTo('order.mid_attempt', repliesB, FAST_RETRY);
    await b.receiver.waitForRequests(1);
    // A: 500 twice, then 200; its first retry falls due 4 s after attempt 1.
    const repliesA: Reply[] = [{ status: 500, body: 'first' }, { status: 500, body: 'second' }, { status: 200 }];
    const a = await deliveryTo('order.between_retries', repliesA, {
      initialInterval: '4s',
      backoffCoefficient: 1,
      maximumInterval: '4s',
      maxDuration: '1h',
    });
    await waitFor(
      async () => ((await h.call('GET', `/v1/deliveries/${a.deliveryId}`)).body.attemptCount === 1 ? true : undefined),
      'attempt 1 of A recorded',
    );
    await b.receiver.waitForRequests(2);

    expect(a.receiver.requests).toHaveLength(1);
    await killWorker();
    const restartedAt = Date.now();
    await startWorker();

    const [deliveryA, deliveryB] = await Promise.all([
      h.finished(a.deliveryId, 40_000),
      h.finished(b.deliveryId, 40_000),
    ]);
    // Nothing is attempted while no worker runs; the work resumes on the new one.
    expect(a.receiver.requests[1]!.receivedAt).toBeGreaterThanOrEqual(restartedAt);
    expect(b.receiver.requests[2]!.receivedAt).toBeGreaterThanOrEqual(restartedAt);
    // No stray duplicate can come after this: both runs have closed (no attempt of theirs is left
    // to make), and the one worker that could still post has stopped, letting what it had in
    // flight finish first.
    for (const { workflowId } of [a, b]) await h.client.workflow.getHandle(workflowId).result();
    await worker!.kill('SIGTERM');

    // A, killed between retries: its attempts go on where they stopped.
    expect(deliveryA).toMatchObject({ status: 'succeeded', attemptCount: 3, nextAttemptAt: null });
    expect(deliveryA.attempts.map((x: any) => [x.attempt, x.statusCode, x.responseBody])).toEqual([
      [1, 500, 'first'],
      [2, 500, 'second'],
      [3, 200, 'ok'],
    ]);
    expect(a.receiver.requests).toHaveLength(3);
    expect(successes(a.receiver, repliesA)).toBe(1);
    expect(await temporalAttempts(a.workflowId)).toBe(3);

    // B, killed mid-attempt: Temporal counts the lost attempt (its heartbeats stopped) and retries
    // it; the store has rows only for attempts that ended, numbered without a gap.
    expect(deliveryB).toMatchObject({ status: 'succeeded', attemptCount: 2, nextAttemptAt: null });
    expect(deliveryB.attempts.map((x: any) => [x.attempt, x.statusCode])).toEqual([
      [1, 500],
      [2, 200],
    ]);
    expect(b.receiver.requests).toHaveLength(3);
    expect(successes(b.receiver, repliesB)).toBe(1);
    expect(await temporalAttempts(b.workflowId)).toBe(3);

    for (const { receiver, workflowId } of [a, b]) {
      expect(new Set(receiver.requests.map((request) => request.headers['webhook-id'])).size).toBe(1);
      expect(await h.client.workflow.getHandle<typeof deliveryWorkflow>(workflowId).result()).toMatchObject({
        status: 'succeeded',
      });
    }
  });
});
