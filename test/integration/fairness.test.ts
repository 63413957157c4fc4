/**
 * Tenant fairness, against a real Temporal dev server with fairness on (as the embedded server
 * and compose run it): every delivery workflow carries its event's account as its fairness key
 * (vendor-level events one key of their own), in both delivery modes, and none with
 * WEBHOOKS_FAIRNESS off. How much it helps under load is measured by `npm run bench` (fairness).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { VENDOR_FAIRNESS_KEY } from '../../core/fairness';
import { deliveryWorkflowId, subscriberWorkflowId } from '../../core/workflow-ids';
import type { DeliveryMode } from '../../core/model';
import { startHarness, type Harness } from '../helpers/harness';
import { always, TestReceiver } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';

let env: TestWorkflowEnvironment;
const closers: Array<() => Promise<void>> = [];
let receiver: TestReceiver;

beforeAll(async () => {
  env = await createTestTemporal();
  receiver = await TestReceiver.start(always(500));
}, 120_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await receiver?.close();
  await env?.teardown();
});

async function harness(options: { deliveryMode?: DeliveryMode; fairness?: boolean }): Promise<Harness> {
  const h = await startHarness({ env, attemptTimeoutMs: 1_000, ...options });
  closers.push(() => h.close());
  await h.call('POST', '/v1/event-types', { id: 'order.created', description: 'order.created' });
  return h;
}

/** A vendor-level subscription whose receiver fails, so every delivery gets a workflow of its own. */
async function subscribe(h: Harness): Promise<string> {
  const res = await h.call('POST', '/v1/subscriptions', {
    url: receiver.url,
    eventTypes: ['order.created'],
    retryPolicy: { initialInterval: '1h' },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function publish(h: Harness, accountId?: string): Promise<string> {
  const res = await h.call('POST', '/v1/events', {
    type: 'order.created',
    data: {},
    ...(accountId ? { accountId } : {}),
  });
  expect(res.status).toBe(202);
  return res.body.id;
}

/** The fairness key Temporal keeps for the workflow, once it exists ('' when it has none). */
async function fairnessKeyOf(h: Harness, workflowId: string): Promise<string> {
  for (let tries = 0; ; tries += 1) {
    try {
      const described = await h.client.workflow.getHandle(workflowId).describe();
      return described.raw.workflowExecutionInfo?.priority?.fairnessKey ?? '';
    } catch (error) {
      if (tries > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe.each<DeliveryMode>(['per-delivery', 'per-subscriber'])('%s', (deliveryMode) => {
  test("each delivery workflow is keyed by its event's account; vendor-level events by a key of their own", async () => {
    const h = await harness({ deliveryMode });
    const subscriptionId = await subscribe(h);
    const acme = await publish(h, 'acme');
    const vendor = await publish(h);
    expect(await fairnessKeyOf(h, deliveryWorkflowId(acme, subscriptionId))).toBe('acme');
    expect(await fairnessKeyOf(h, deliveryWorkflowId(vendor, subscriptionId))).toBe(VENDOR_FAIRNESS_KEY);
    if (deliveryMode === 'per-subscriber') {
      expect(await fairnessKeyOf(h, subscriberWorkflowId(subscriptionId))).toBe('acme');
    }
  });
});

test('WEBHOOKS_FAIRNESS off: no fairness key', async () => {
  const h = await harness({ fairness: false });
  const subscriptionId = await subscribe(h);
  const eventId = await publish(h, 'acme');
  expect(await fairnessKeyOf(h, deliveryWorkflowId(eventId, subscriptionId))).toBe('');
});
