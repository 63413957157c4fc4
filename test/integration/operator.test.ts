/**
 * What an operator sees and does, against a real Temporal dev server: Temporal's own status tells
 * each delivery's outcome, cancel and resend are answered by the workflow, a resend racing a
 * success ends in one state the row and Temporal agree on, and a workflow terminated from the
 * CLI has its row repaired by the reconciler.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { DELIVERY_STATUS_OF_CLOSED_RUN } from '../../src/temporal/run-status';
import { statusQuery } from '../../workflows/messages';
import { startHarness, type Harness } from '../helpers/harness';
import { always, TestReceiver, type Script } from '../helpers/receiver';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { FAST_RETRY } from '../helpers/retry-policies';

/** A delivery that fails its first attempt and then waits an hour: pending for the whole test. */
const SLOW_RETRY = { initialInterval: '1h', backoffCoefficient: 1, maximumInterval: '1h' };

let env: TestWorkflowEnvironment;
let h: Harness;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env, attemptTimeoutMs: 2_000 });
  expect((await h.call('POST', '/v1/event-types', { id: 'order.created' })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await h?.close();
  await env?.teardown();
});

interface Delivery {
  id: string;
  status: string;
  workflowId: string;
  attemptCount: number;
}

/** A receiver answering by `script`, subscribed with `retryPolicy`, and one event: its delivery's id, as a promise that resolves once listed. */
async function deliver(
  script: Script,
  retryPolicy: Record<string, unknown>,
): Promise<{ receiver: TestReceiver; delivery: Promise<Delivery> }> {
  const receiver = await TestReceiver.start(script);
  receivers.push(receiver);
  const sub = await h.call('POST', '/v1/subscriptions', {
    url: receiver.url,
    eventTypes: ['order.created'],
    retryPolicy,
  });
  expect(sub.status).toBe(201);
  const event = await h.call('POST', '/v1/events', { type: 'order.created', data: { n: 1 } });
  expect(event.status).toBe(202);
  const delivery = waitFor(async () => {
    const listed = await h.call('GET', `/v1/deliveries?eventId=${event.body.id}&subscriptionId=${sub.body.id}`);
    return listed.body.data?.[0] as Delivery | undefined;
  }, 'the delivery row');
  return { receiver, delivery };
}

const read = async (id: string): Promise<Delivery> => (await h.call('GET', `/v1/deliveries/${id}`)).body;

/** How the workflow's latest run closed (its failure when it did not complete), once it has. */
async function closedRun(workflowId: string): Promise<{ status: string; failure: unknown }> {
  const handle = h.client.workflow.getHandle(workflowId);
  // The row is written before its workflow starts (the outbox): wait for the workflow first.
  await waitFor(() => handle.describe(), `workflow ${workflowId} to start`);
  const failure = await handle.result().then(
    () => undefined,
    (error: unknown) => (error instanceof WorkflowFailedError ? error.cause : error),
  );
  return { status: (await handle.describe()).status.name, failure };
}

describe("Temporal's status tells the outcome", () => {
  test('delivered: Completed', async () => {
    const { delivery } = await deliver(always(200), FAST_RETRY);
    const { workflowId, id } = await delivery;
    expect(await closedRun(workflowId)).toEqual({ status: 'COMPLETED', failure: undefined });
    expect((await read(id)).status).toBe('succeeded');
  });

  test('refused by the receiver: Failed, ReceiverRejected, the reason as its message', async () => {
    const { delivery } = await deliver(always(404), FAST_RETRY);
    const { workflowId, id } = await delivery;
    const { status, failure } = await closedRun(workflowId);
    expect(status).toBe('FAILED');
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'ReceiverRejected', message: expect.stringMatching(/HTTP 404/) });
    expect(await read(id)).toMatchObject({ status: 'failed' });
  });

  test('attempts used up: Failed, AttemptsExhausted', async () => {
    const { delivery } = await deliver(always(500), { ...FAST_RETRY, maximumAttempts: 2 });
    const { workflowId, id } = await delivery;
    const { status, failure } = await closedRun(workflowId);
    expect(status).toBe('FAILED');
    expect(failure).toMatchObject({ type: 'AttemptsExhausted', message: expect.stringMatching(/HTTP 500/) });
    expect(await read(id)).toMatchObject({ status: 'failed', attemptCount: 2 });
  });

  test('cancelled through the API: Canceled; cancelling again is accepted, resending it starts a new run', async () => {
    const { delivery, receiver } = await deliver(always(500), SLOW_RETRY);
    await receiver.waitForRequests(1);
    const { workflowId, id } = await delivery;
    const cancelled = await h.call('POST', `/v1/deliveries/${id}/cancel`);
    expect(cancelled).toMatchObject({ status: 200, body: { status: 'cancelled' } });
    const { status, failure } = await closedRun(workflowId);
    expect(status).toBe('CANCELLED');
    expect(failure).toBeInstanceOf(CancelledFailure);
    expect((await h.call('POST', `/v1/deliveries/${id}/cancel`)).status).toBe(200);

    receiver.script = always(200);
    expect((await h.call('POST', `/v1/deliveries/${id}/resend`)).status).toBe(202);
    expect(await closedRun(workflowId)).toEqual({ status: 'COMPLETED', failure: undefined });
    expect(await read(id)).toMatchObject({ status: 'succeeded', attemptCount: 2 });
  });

  test('the cancel signal (as the UI or CLI sends it) ends the delivery Canceled too', async () => {
    const { delivery, receiver } = await deliver(always(500), SLOW_RETRY);
    await receiver.waitForRequests(1);
    const { workflowId, id } = await delivery;
    await h.client.workflow.getHandle(workflowId).signal('cancel');
    expect((await closedRun(workflowId)).status).toBe('CANCELLED');
    await waitFor(async () => ((await read(id)).status === 'cancelled' ? true : undefined), 'the cancelled row');
  });

  test('cancelling a delivered delivery is a 409 that says why', async () => {
    const { delivery } = await deliver(always(200), FAST_RETRY);
    const { workflowId, id } = await delivery;
    await closedRun(workflowId);
    const answer = await h.call('POST', `/v1/deliveries/${id}/cancel`);
    expect(answer.status).toBe(409);
    expect(answer.body.error.message).toMatch(/succeeded/);
    expect(answer.body.error.details).toEqual([{ path: 'status', message: 'is succeeded' }]);
  });
});

test('resends racing a success end in one state that the row and Temporal agree on', async () => {
  // Known once the delivery is listed, which may come after the receiver's first request.
  let knowId: (id: string) => void = () => undefined;
  const deliveryId = new Promise<string>((resolve) => (knowId = resolve));
  const answers: Array<Promise<number>> = [];
  const resend = (): void => {
    answers.push((async () => (await h.call('POST', `/v1/deliveries/${await deliveryId}/resend`)).status)());
  };
  // The receiver holds the first request 300 ms, then answers 200. Resends are fired from its
  // arrival to well after the answer: while the attempt is in flight, as its 2xx is recorded, as
  // the workflow completes, and after.
  const { receiver, delivery } = await deliver((_request, n) => {
    if (n === 1) for (const at of [0, 150, 280, 300, 305, 310, 320, 340, 380, 450, 600, 900]) setTimeout(resend, at);
    return { status: 200, delayMs: n === 1 ? 300 : 0 };
  }, FAST_RETRY);
  const { id, workflowId } = await delivery;
  knowId(id);
  await receiver.waitForRequests(1);
  await waitFor(async () => (answers.length === 12 ? true : undefined), 'every resend to be sent', 5_000);
  const statuses = await Promise.all(answers);
  // Each resend was accepted (202) or refused with a reason (409): none failed.
  expect(statuses.filter((status) => status !== 202 && status !== 409)).toEqual([]);

  const settled = await waitFor(
    async () => {
      const { status } = await h.client.workflow.getHandle(workflowId).describe();
      const row = await read(id);
      return status.name !== 'RUNNING' && row.status !== 'pending' ? { status: status.name, row } : undefined;
    },
    'the last run to close and the row to follow',
    30_000,
  );
  expect(settled.row.status).toBe(DELIVERY_STATUS_OF_CLOSED_RUN[settled.status]);
  expect(settled.row.status).toBe('succeeded');
  // Every POST the receiver got is an attempt on the row, and no attempt is missing from it.
  expect(settled.row.attemptCount).toBe(receiver.requests.length);
});

test('a delivery whose workflow is terminated from the CLI has its row repaired by the reconciler', async () => {
  const { delivery, receiver } = await deliver(always(500), SLOW_RETRY);
  await receiver.waitForRequests(1);
  const { id, workflowId } = await delivery;
  expect((await read(id)).status).toBe('pending');
  await promisify(execFile)(process.env.TEMPORAL_CLI_PATH!, [
    'workflow',
    'terminate',
    '--workflow-id',
    workflowId,
    '--reason',
    'stopped by an operator in a test',
    '--address',
    env.address,
    '--namespace',
    env.namespace ?? 'default',
  ]);
  const terminatedAt = Date.now();
  const repaired = await waitFor(
    async () => {
      const row = await read(id);
      return row.status === 'pending' ? undefined : row;
    },
    'the reconciler to end the row',
    30_000,
    200,
  );
  expect(repaired).toMatchObject({ status: 'cancelled', nextAttemptAt: null });
  // One reconciler pass every 5 s, plus visibility's lag.
  expect(Date.now() - terminatedAt).toBeLessThan(20_000);
});

test('a delivery resent 250 times continues as new every 100 resends, so no run grows long', async () => {
  const { delivery, receiver } = await deliver(always(500), SLOW_RETRY);
  await receiver.waitForRequests(1);
  const { id, workflowId } = await delivery;
  const statuses: number[] = [];
  for (let n = 0; n < 250; n += 1) statuses.push((await h.call('POST', `/v1/deliveries/${id}/resend`)).status);
  expect(statuses.filter((status) => status !== 202)).toEqual([]);

  const runs: Array<{ runId: string; status: string; historyLength: number }> = [];
  for await (const run of h.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) {
    runs.push({ runId: run.runId, status: run.status.name, historyLength: run.historyLength });
  }
  expect(runs).toHaveLength(3);
  expect(runs.filter((run) => run.status === 'CONTINUED_AS_NEW')).toHaveLength(2);
  // Each run: its resends' attempts and timers, far below Temporal's 10,240-event warning.
  for (const run of runs) expect(run.historyLength).toBeLessThan(2_000);
  const state = await h.client.workflow.getHandle(workflowId).query(statusQuery);
  expect(state).toMatchObject({ status: 'pending', resends: 250 });
}, 120_000);
