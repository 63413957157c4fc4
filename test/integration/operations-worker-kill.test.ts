/**
 * A recover whose worker is killed with SIGKILL mid-batch (issue 16): the real `src/main.ts
 * worker` as a child process, the API in this process, both on one PostgreSQL database and a real
 * Temporal dev server. On a new worker the batch is taken again from the ledger, the operation
 * completes, and no delivery is resent twice: each has exactly two runs, the one that failed and
 * the one the recover started.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startHarness, type Harness } from '../helpers/harness';
import { ended, failedDeliveries, webhookIds } from '../helpers/operations';
import {
  createTestDatabase,
  describeWithPostgres as describeWithPostgresServer,
  type TestDatabase,
} from '../helpers/postgres';
import { TestReceiver } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { spawnWorker, waitUntilPolling, type WorkerProcess } from '../helpers/worker-process';

const describeWithPostgres = describeWithPostgresServer('operations-worker-kill.test.ts');

const FAILED = 300;

describeWithPostgres('a worker killed mid-operation', () => {
  let database: TestDatabase;
  let env: TestWorkflowEnvironment;
  let h: Harness;
  let receiver: TestReceiver;
  let worker: WorkerProcess | undefined;

  async function startWorker(): Promise<void> {
    const started = spawnWorker({
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      TEMPORAL_TASK_QUEUE: h.taskQueue,
      DATABASE_URL: database.url,
      WEBHOOKS_ALLOW_INSECURE_TARGETS: 'true',
      LOG_LEVEL: 'warn',
    });
    worker = started;
    await waitUntilPolling(h.client, h.taskQueue, started);
  }

  beforeAll(async () => {
    database = await createTestDatabase('operations_worker_kill');
    env = await createTestTemporal();
    h = await startHarness({ env, db: database.db, worker: false });
    receiver = await TestReceiver.start();
  }, 60_000);

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await receiver?.close();
    await h?.close();
    await env?.teardown();
    await database?.drop();
  });

  test('the operation completes on the next worker, and no delivery is resent twice', async () => {
    await startWorker();
    const since = new Date(Date.now() - 1_000).toISOString();
    const subscriptionId = await failedDeliveries(h, receiver, 'order.failed', FAILED);

    const started = await h.call('POST', `/v1/subscriptions/${subscriptionId}/recover`, { since });
    expect(started.status).toBe(202);
    // Killed as the first resends arrive: the first batch is in flight, its deliveries part resent.
    await receiver.waitForRequests(1, 30_000);
    expect((await worker!.kill('SIGKILL')).signal).toBe('SIGKILL');
    const atKill = receiver.requests.length;
    expect((await h.call('GET', `/v1/operations/${started.body.id}`)).body.status).toBe('running');

    await startWorker();
    expect(await ended(h, started.body.id, 90_000)).toMatchObject({ status: 'completed', done: FAILED });
    expect(atKill).toBeLessThan(FAILED);

    // Every delivery arrived. One posted twice is one whose attempt was in flight when the worker
    // died: the new worker makes that attempt again (an attempt is at least once), in the same run.
    await waitFor(() => (webhookIds(receiver).size === FAILED ? true : undefined), 'every delivery', 60_000);
    const postedBeforeKill = new Set(
      receiver.requests.slice(0, atKill).map((request) => request.headers['webhook-id']),
    );
    const twice = [...webhookIds(receiver)].filter(([, count]) => count > 1).map(([id]) => id);
    expect(twice.filter((id) => !postedBeforeKill.has(id))).toEqual([]);
    // Each delivery has two runs: the one that failed, and the one the recover started.
    const runs = await waitFor(
      async () => {
        const counts = new Map<string, number>();
        for await (const run of h.client.workflow.list({
          query: `WorkflowType = "deliveryWorkflow" AND WebhookSubscriptionId = "${subscriptionId}"`,
        })) {
          counts.set(run.workflowId, (counts.get(run.workflowId) ?? 0) + 1);
        }
        return [...counts.values()].reduce((sum, n) => sum + n, 0) >= 2 * FAILED ? counts : undefined;
      },
      'the runs to be listed',
      30_000,
      500,
    );
    expect(runs.size).toBe(FAILED);
    expect([...runs.values()].filter((n) => n !== 2)).toEqual([]);
  }, 180_000);
});
