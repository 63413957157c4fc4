/**
 * Recover (issue 16), against a real Temporal dev server: deliveries that failed against a dead
 * receiver are resent once each, by one call, once it is back; the operation's workflow shows its
 * progress in its search attributes and its query.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { OPERATION_DONE, OPERATION_KIND, OPERATION_REMAINING } from '../../core/search-attributes';
import { operationProgressQuery } from '../../workflows/operation-messages';
import { startHarness, type Harness } from '../helpers/harness';
import { countDeliveries, ended, failedDeliveries, settledCount, webhookIds } from '../helpers/operations';
import { TestReceiver } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

/** Deliveries failed, then recovered. */
const FAILED = 500;

let env: TestWorkflowEnvironment;
let h: Harness;
let receiver: TestReceiver;
let subscriptionId: string;
const since = new Date(Date.now() - 1_000).toISOString();

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env });
  receiver = await TestReceiver.start();
  subscriptionId = await failedDeliveries(h, receiver, 'order.failed', FAILED);
}, 100_000);

afterAll(async () => {
  await receiver?.close();
  await h?.close();
  await env?.teardown();
});

test(`one recover call: the ${FAILED} failed deliveries arrive once each`, async () => {
  const started = await h.call('POST', `/v1/subscriptions/${subscriptionId}/recover`, { since });
  expect(started.status).toBe(202);
  expect(started.body).toEqual({
    id: expect.stringMatching(/^op_[0-9a-z]{26}$/),
    kind: 'recover',
    subscriptionId,
    status: 'running',
    filter: { since, until: expect.any(String), statuses: ['failed'] },
    matched: FAILED,
    done: 0,
    remaining: FAILED,
    startedAt: expect.any(String),
    finishedAt: null,
    workflowId: `recover/${started.body.id}`,
    temporalUiUrl: expect.stringContaining(encodeURIComponent(`recover/${started.body.id}`)),
  });

  const done = await ended(h, started.body.id);
  expect(done).toMatchObject({ status: 'completed', matched: FAILED, done: FAILED, remaining: 0 });
  expect(Date.parse(done.finishedAt)).toBeGreaterThanOrEqual(Date.parse(done.startedAt));

  expect(await settledCount(receiver, FAILED)).toBe(FAILED);
  const ids = webhookIds(receiver);
  expect(ids.size).toBe(FAILED);
  expect([...ids.values()].filter((count) => count !== 1)).toEqual([]);
  await waitFor(
    async () => ((await countDeliveries(h, subscriptionId, 'succeeded')) === FAILED ? true : undefined),
    'every delivery succeeded',
    60_000,
  );

  const handle = h.client.workflow.getHandle(done.workflowId);
  const description = await handle.describe();
  expect(description.status.name).toBe('COMPLETED');
  expect(await description.staticSummary()).toContain(`recover failed deliveries of ${subscriptionId}`);
  expect(description.typedSearchAttributes.get(OPERATION_KIND)).toBe('recover');
  expect(description.typedSearchAttributes.get(OPERATION_DONE)).toBe(FAILED);
  expect(description.typedSearchAttributes.get(OPERATION_REMAINING)).toBe(0);
  const progress = { status: 'completed', matched: FAILED, done: FAILED, remaining: 0 };
  expect(await handle.query(operationProgressQuery)).toEqual(progress);
  expect(await handle.result()).toEqual(progress);

  // Run again, it finds nothing: every delivery succeeded.
  const again = await h.call('POST', `/v1/subscriptions/${subscriptionId}/recover`, { since });
  expect(again.body).toMatchObject({ matched: 0 });
  expect(await ended(h, again.body.id)).toMatchObject({ status: 'completed', done: 0 });
  expect(receiver.requests).toHaveLength(FAILED);

  // A completed operation cannot be cancelled.
  const refused = await h.call('POST', `/v1/operations/${started.body.id}/cancel`);
  expect(refused.status).toBe(409);
  expect(refused.body.error.details).toEqual([{ path: 'status', message: 'is completed' }]);
}, 90_000);
