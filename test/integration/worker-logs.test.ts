/**
 * What the worker prints, as `npm run worker` runs it (its own process, LOG_LEVEL=info): one JSON
 * line per attempt, no stack trace for a receiver's failure, and the SDK's own lines in the same
 * JSON. A receiver that always answers 500, three attempts.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startHarness, type Harness } from '../helpers/harness';
import { createTestDatabase, describeWithPostgres, type TestDatabase } from '../helpers/postgres';
import { always, TestReceiver } from '../helpers/receiver';
import { FAST_RETRY } from '../helpers/retry-policies';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { spawnWorker, waitUntilPolling, type WorkerProcess } from '../helpers/worker-process';

describeWithPostgres('worker-logs.test.ts')('the worker log of a delivery that fails three attempts', () => {
  let database: TestDatabase;
  let env: TestWorkflowEnvironment;
  let h: Harness;
  let worker: WorkerProcess | undefined;
  let receiver: TestReceiver | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('worker_logs');
    env = await createTestTemporal();
    h = await startHarness({ env, db: database.db, worker: false });
  }, 60_000);

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await receiver?.close();
    await h?.close();
    await env?.teardown();
    await database?.drop();
  });

  test('one JSON line per attempt, no stack trace, nothing but JSON lines', async () => {
    worker = spawnWorker(
      {
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_NAMESPACE: env.namespace ?? 'default',
        TEMPORAL_TASK_QUEUE: h.taskQueue,
        DATABASE_URL: database.url,
        WEBHOOKS_ALLOW_INSECURE_TARGETS: 'true',
        LOG_LEVEL: 'info',
      },
      (line) => lines.push(line),
    );
    await waitUntilPolling(h.client, h.taskQueue, worker);
    receiver = await TestReceiver.start(always(500));
    expect((await h.call('POST', '/v1/event-types', { id: 'order.logged' })).status).toBe(201);
    const sub = await h.call('POST', '/v1/subscriptions', {
      url: receiver.url,
      eventTypes: ['order.logged'],
      retryPolicy: { ...FAST_RETRY, maximumAttempts: 3 },
    });
    expect(sub.status).toBe(201);
    const event = await h.call('POST', '/v1/events', { type: 'order.logged', data: {} });
    const delivery = await waitFor(
      async () => {
        const listed = (await h.call('GET', `/v1/deliveries?eventId=${event.body.id}`)).body.data?.[0];
        return listed?.status === 'failed' ? listed : undefined;
      },
      'the delivery to fail',
      30_000,
    );
    // The workflow's end is logged by the worker after the row is written: wait for that line.
    const parsed = await waitFor(
      () => {
        const all = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
        return all.some((entry) => entry.workflowId === delivery.workflowId && entry.msg === 'Workflow failed')
          ? all
          : undefined;
      },
      'the worker to log the end of the delivery',
      10_000,
    );

    const attempts = parsed.filter((entry) => entry.deliveryId === delivery.id);
    expect(attempts.map((entry) => [entry.msg, entry.attempt, entry.statusCode])).toEqual([
      ['webhook attempt failed', 1, 500],
      ['webhook attempt failed', 2, 500],
      ['webhook attempt failed', 3, 500],
    ]);
    expect(attempts.map((entry) => entry.level)).toEqual([40, 40, 40]);
    expect(attempts[0]).toMatchObject({ eventType: 'order.logged', reason: 'receiver answered HTTP 500' });
    expect(attempts[2]).toMatchObject({ nextAttemptAt: null });
    // Of the SDK's own lines, one says the delivery ended, at info, with its failure in one field.
    const sdk = parsed.filter((entry) => entry.workflowId === delivery.workflowId);
    expect(sdk.map((entry) => entry.msg)).toEqual(['Workflow failed']);
    expect(sdk[0]).toMatchObject({
      level: 30,
      failure: { message: expect.stringMatching(/^receiver answered HTTP 500 \(attempt 3, /) },
    });
    expect(lines.filter((line) => /"stack"|\\n\s+at /.test(line))).toEqual([]);
  }, 90_000);
});
