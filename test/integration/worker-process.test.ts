/**
 * The worker as production runs it: `src/main.ts worker` started by node directly with the
 * production flags (test/helpers/worker-process.ts), as the image's exec-form ENTRYPOINT does.
 * The API runs in this process, on the same PostgreSQL database.
 * - SIGTERM as a container runtime sends it (`docker stop`, a Kubernetes pod deletion): an
 *   attempt is in flight, at a receiver that takes 2 s to answer; the attempt finishes instead of
 *   being aborted, the receiver's 200 is read, the delivery is recorded as succeeded, and the
 *   process exits 0 within the shutdown grace period (attempt timeout + 5 s).
 * - Its log at LOG_LEVEL=info, for a receiver that always answers 500, three attempts: one JSON
 *   line per attempt, no stack trace for a receiver's failure, the SDK's own lines in the same JSON.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  createTestDatabase,
  describeWithPostgres as describeWithPostgresServer,
  type TestDatabase,
} from '../helpers/postgres';
import { startHarness, type Harness } from '../helpers/harness';
import { freePort } from '../helpers/ports';
import { samplesOf, scrape, valueOf } from '../helpers/prometheus';
import { always, TestReceiver } from '../helpers/receiver';
import { FAST_RETRY } from '../helpers/retry-policies';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { spawnWorker, waitUntilPolling, type WorkerProcess } from '../helpers/worker-process';

const describeWithPostgres = describeWithPostgresServer('worker-process.test.ts');

/** The worker's attempt timeout; its shutdown grace is this plus 5 s (src/service.ts). */
const ATTEMPT_TIMEOUT_MS = 5_000;
const SHUTDOWN_GRACE_MS = ATTEMPT_TIMEOUT_MS + 5_000;
/** How long the receiver holds each request before answering 200. */
const HOLD_MS = 2_000;

/** One request as the receiver saw it: when it came, and whether its answer went out whole. */
interface Held {
  readonly receivedAt: number;
  /** Settles once the 200 is written in full (true) or the connection is cut first (false). */
  readonly answered: Promise<boolean>;
  answeredAt?: number;
}

/** A loopback receiver that holds every request HOLD_MS, then answers 200. */
async function startSlowReceiver(): Promise<{ url: string; requests: Held[]; close(): Promise<void> }> {
  const requests: Held[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    const held: Held = {
      receivedAt: Date.now(),
      answered: new Promise<boolean>((resolve) => {
        res.once('finish', () => {
          held.answeredAt = Date.now();
          resolve(true);
        });
        res.once('close', () => resolve(res.writableFinished));
      }),
    };
    requests.push(held);
    const timer = setTimeout(() => {
      if (!res.destroyed) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    }, HOLD_MS);
    res.once('close', () => clearTimeout(timer));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** GET the worker's health endpoint: its status and body, or undefined while nothing answers. */
async function workerHealth(port: number): Promise<{ status: number; body: any } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return { status: response.status, body: await response.json() };
  } catch {
    return undefined;
  }
}

describeWithPostgres('a worker process, as `npm run worker` runs it', () => {
  let database: TestDatabase;
  let env: TestWorkflowEnvironment;
  let h: Harness;
  let worker: WorkerProcess | undefined;
  let receiver: Awaited<ReturnType<typeof startSlowReceiver>> | undefined;
  const receivers: TestReceiver[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('worker_process');
    env = await createTestTemporal();
    h = await startHarness({ env, db: database.db, worker: false, attemptTimeoutMs: ATTEMPT_TIMEOUT_MS });
  }, 60_000);

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await receiver?.close();
    await Promise.all(receivers.map((each) => each.close()));
    await h?.close();
    await env?.teardown();
    await database?.drop();
  });

  test('SIGTERM with an attempt in flight: the attempt finishes, the delivery is recorded as succeeded, and the process exits 0 within the grace', async () => {
    const healthPort = await freePort();
    worker = spawnWorker({
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      TEMPORAL_TASK_QUEUE: h.taskQueue,
      DATABASE_URL: database.url,
      WEBHOOKS_ALLOW_INSECURE_TARGETS: 'true',
      WEBHOOKS_ATTEMPT_TIMEOUT_MS: String(ATTEMPT_TIMEOUT_MS),
      WORKER_HEALTH_PORT: String(healthPort),
      LOG_LEVEL: 'warn',
    });
    const running = worker;
    await waitUntilPolling(h.client, h.taskQueue, running);
    // The health endpoint a container health check probes: ready once the worker runs.
    const ready = await waitFor(async () => {
      const health = await workerHealth(healthPort);
      return health?.status === 200 ? health : undefined;
    }, 'the worker health endpoint to answer 200');
    expect(ready.body).toEqual({ status: 'ok', worker: 'running', checks: { temporal: true, store: true } });

    receiver = await startSlowReceiver();
    expect((await h.call('POST', '/v1/event-types', { id: 'order.sigterm', description: 'x' })).status).toBe(201);
    const sub = await h.call('POST', '/v1/subscriptions', { url: receiver.url, eventTypes: ['order.sigterm'] });
    expect(sub.status).toBe(201);
    const event = await h.call('POST', '/v1/events', { type: 'order.sigterm', data: { orderId: 1 } });
    expect(event.status).toBe(202);

    const held = await waitFor(() => receiver!.requests[0], 'the attempt to reach the receiver', 20_000, 10);
    const signalledAt = Date.now();
    process.kill(running.pid, 'SIGTERM');

    // While the attempt drains, the worker reports itself stopping (503), not healthy.
    let exitedEarly = false;
    void running.exited.then(() => (exitedEarly = true));
    const draining = await waitFor(async () => {
      const health = await workerHealth(healthPort);
      if (health && health.status !== 200) return health;
      return exitedEarly ? ('exited' as const) : undefined;
    }, 'the worker health endpoint to report the drain');

    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      running.exited,
      new Promise<'still running'>((resolve) => {
        timer = setTimeout(() => resolve('still running'), SHUTDOWN_GRACE_MS + 5_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const exitedAt = Date.now();
    if (exit === 'still running') throw new Error(`the worker did not exit after SIGTERM:\n${running.output()}`);

    // The receiver's answer went out whole: the attempt was let finish, not aborted.
    expect(await held.answered).toBe(true);
    expect(held.answeredAt! - held.receivedAt).toBeGreaterThanOrEqual(HOLD_MS - 50);
    expect(held.answeredAt!).toBeLessThanOrEqual(exitedAt);
    expect(receiver.requests).toHaveLength(1);

    // A clean exit, within the grace period.
    expect({ exit, output: exit.code === 0 ? '' : running.output() }).toEqual({
      exit: { code: 0, signal: null },
      output: '',
    });
    expect(exitedAt - signalledAt).toBeLessThan(SHUTDOWN_GRACE_MS);
    expect(draining).toMatchObject({ status: 503, body: { status: 'unavailable', worker: 'stopping' } });

    // The worker recorded the attempt and the success before it exited.
    const deliveries = await h.call('GET', `/v1/deliveries?eventId=${event.body.id}`);
    expect(deliveries.status).toBe(200);
    expect(deliveries.body.data).toHaveLength(1);
    const [delivery] = deliveries.body.data;
    expect(delivery).toMatchObject({ status: 'succeeded', attemptCount: 1 });
    expect(delivery.attempts.map((attempt: any) => [attempt.attempt, attempt.statusCode])).toEqual([[1, 200]]);
  }, 90_000);

  test('its log: one JSON line per attempt, no stack trace, nothing but JSON lines; its metrics on METRICS_PORT', async () => {
    const lines: string[] = [];
    // Metrics and health on one port: one server answers both.
    const endpointsPort = await freePort();
    const logged = spawnWorker(
      {
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_NAMESPACE: env.namespace ?? 'default',
        TEMPORAL_TASK_QUEUE: h.taskQueue,
        DATABASE_URL: database.url,
        WEBHOOKS_ALLOW_INSECURE_TARGETS: 'true',
        LOG_LEVEL: 'info',
        METRICS_PORT: String(endpointsPort),
        WORKER_HEALTH_PORT: String(endpointsPort),
      },
      (line) => lines.push(line),
    );
    // The first test's worker is gone; this one polls the same task queue.
    worker = logged;
    await waitUntilPolling(h.client, h.taskQueue, logged);
    const receiver = await TestReceiver.start(always(500));
    receivers.push(receiver);
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

    // The worker's GET /metrics: its three attempts and the delivery's end, its process; the
    // store's gauges are the API's to export.
    expect((await workerHealth(endpointsPort))?.status).toBe(200);
    const metrics = await scrape(`http://127.0.0.1:${endpointsPort}/metrics`);
    expect(valueOf(metrics, 'webhook_attempts_total', { class: '5xx', event_type: 'order.logged' })).toBe(3);
    expect(valueOf(metrics, 'webhook_attempt_duration_seconds_count', { class: '5xx' })).toBe(3);
    expect(valueOf(metrics, 'webhook_deliveries_ended_total', { outcome: 'failed', event_type: 'order.logged' })).toBe(
      1,
    );
    expect(samplesOf(metrics, 'process_cpu_user_seconds_total')).toHaveLength(1);
    expect(samplesOf(metrics, 'webhook_deliveries_pending')).toEqual([]);
    // The SDK's worker metrics, appended to the same scrape.
    expect(valueOf(metrics, 'temporal_activity_execution_latency_seconds_count', { task_queue: h.taskQueue })).toBe(2);
    expect(samplesOf(metrics, 'temporal_worker_task_slots_available', { task_queue: h.taskQueue })).not.toEqual([]);
  }, 90_000);
});
