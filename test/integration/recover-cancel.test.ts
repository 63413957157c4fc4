/**
 * A recover cancelled halfway (issue 16), against a real Temporal dev server: the operation says
 * cancelled and what it resent stays resent, the rest stay failed; a second recover sends only
 * the rest. The worker runs at most two activities a second, so the operation's batches (100
 * deliveries each) come one at a time and the cancel lands halfway.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startHarness, type Harness } from '../helpers/harness';
import { countDeliveries, ended, failedDeliveries, settledCount, webhookIds } from '../helpers/operations';
import { TestReceiver } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

const FAILED = 500;

let env: TestWorkflowEnvironment;
let h: Harness;
let receiver: TestReceiver;
let subscriptionId: string;
const since = new Date(Date.now() - 1_000).toISOString();

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env, workerTuning: { maxActivitiesPerSecond: 2 } });
  receiver = await TestReceiver.start();
  subscriptionId = await failedDeliveries(h, receiver, 'order.failed', FAILED);
}, 100_000);

afterAll(async () => {
  await receiver?.close();
  await h?.close();
  await env?.teardown();
});

test('cancelled halfway: the operation says cancelled, the rest stay failed; run again, only the rest arrive', async () => {
  const first = await h.call('POST', `/v1/subscriptions/${subscriptionId}/recover`, {
    since,
    statuses: ['failed', 'cancelled'],
  });
  expect(first.status).toBe(202);
  expect(first.body.filter.statuses).toEqual(['failed', 'cancelled']);
  await waitFor(
    async () => ((await h.call('GET', `/v1/operations/${first.body.id}`)).body.done > 0 ? true : undefined),
    'a first batch',
  );
  const cancelled = await h.call('POST', `/v1/operations/${first.body.id}/cancel`);
  expect(cancelled.status).toBe(200);
  expect(cancelled.body).toMatchObject({ status: 'cancelled', finishedAt: expect.any(String) });
  const resent = cancelled.body.done as number;
  expect(resent).toBeGreaterThan(0);
  expect(resent).toBeLessThan(FAILED);
  expect(cancelled.body.remaining).toBe(FAILED - resent);
  // The workflow ends Canceled once it has recorded the operation's end.
  await waitFor(async () => {
    const { status } = await h.client.workflow.getHandle(first.body.workflowId).describe();
    return status.name === 'CANCELLED' ? true : undefined;
  }, 'the workflow to end Canceled');
  // Cancelling again is accepted, and changes nothing.
  expect((await h.call('POST', `/v1/operations/${first.body.id}/cancel`)).body).toMatchObject({
    status: 'cancelled',
    done: resent,
  });

  expect(await settledCount(receiver, resent)).toBe(resent);
  expect(await countDeliveries(h, subscriptionId, 'failed')).toBe(FAILED - resent);

  const second = await h.call('POST', `/v1/subscriptions/${subscriptionId}/recover`, { since });
  expect(second.status).toBe(202);
  expect(second.body.matched).toBe(FAILED - resent);
  expect(await ended(h, second.body.id)).toMatchObject({ status: 'completed', done: FAILED - resent });
  expect(await settledCount(receiver, FAILED)).toBe(FAILED);
  const ids = webhookIds(receiver);
  expect(ids.size).toBe(FAILED);
  expect([...ids.values()].filter((count) => count !== 1)).toEqual([]);

  // Listed newest first, filtered, a page at a time.
  const listed = await h.call('GET', `/v1/operations?subscriptionId=${subscriptionId}&limit=1`);
  expect(listed.body.data.map((op: any) => op.id)).toEqual([second.body.id]);
  const next = await h.call(
    'GET',
    `/v1/operations?subscriptionId=${subscriptionId}&limit=1&cursor=${listed.body.nextCursor}`,
  );
  expect(next.body).toEqual({ data: [expect.objectContaining({ id: first.body.id })], nextCursor: null });
  const byStatus = await h.call('GET', `/v1/operations?subscriptionId=${subscriptionId}&status=cancelled`);
  expect(byStatus.body.data.map((op: any) => op.id)).toEqual([first.body.id]);
}, 90_000);
