/**
 * Records one history of every delivery workflow shape (see shapes.ts) into histories/<shape>.json,
 * running the real API, worker and activities against real Temporal servers and loopback receivers.
 *
 *   npm run replay:record            # every shape
 *   npm run replay:record -- success # some shapes
 *   REPLAY_GENERATION=name npm run replay:record   # into histories/<shape>@name.json
 *
 * Run it when a shape is added, and under a new generation name when a patch changes the histories
 * the workflow writes: the point of the recorded histories is that they were written by earlier
 * code, and the current code must replay them, so earlier files are kept, never re-recorded.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { DEFAULT_TOOLS_DIR, findTemporalCli } from '../../devtools/temporal-cli';
import { findTemporalTestServer } from '../helpers/temporal-test-server';
import { startHarness, type Harness } from '../helpers/harness';
import { always, sequence, TestReceiver } from '../helpers/receiver';
import { createTestTemporal, createTimeSkippingTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { HISTORIES_DIR } from './histories';
import { SHAPES, type Shape } from './shapes';
import { FAST_RETRY } from '../helpers/retry-policies';

const execFileAsync = promisify(execFile);
/** Which workflow code wrote the histories: none for the first, a patch's name after. */
const GENERATION = process.env.REPLAY_GENERATION;
/** Long enough that a delivery is still waiting to retry when the recorder acts on it. */
const SLOW_RETRY = { initialInterval: '1h' };

interface Delivery {
  id: string;
  workflowId: string;
  status: string;
  attemptCount: number;
}

class Recorder {
  private readonly receivers: TestReceiver[] = [];

  constructor(readonly h: Harness) {}

  async receiver(script = always(200)): Promise<TestReceiver> {
    const receiver = await TestReceiver.start(script);
    this.receivers.push(receiver);
    return receiver;
  }

  /** Subscribes `receiver` to an event type of the shape's own, publishes one event, and returns its delivery. */
  async deliver(
    shape: Shape,
    receiver: TestReceiver,
    retryPolicy: Record<string, unknown> = FAST_RETRY,
  ): Promise<Delivery> {
    const type = `replay.${shape}`;
    await this.h.call('POST', '/v1/event-types', { id: type, description: SHAPES[shape] });
    const sub = await this.h.call('POST', '/v1/subscriptions', { url: receiver.url, eventTypes: [type], retryPolicy });
    if (sub.status !== 201) throw new Error(`subscription: ${sub.status} ${JSON.stringify(sub.body)}`);
    const event = await this.h.call('POST', '/v1/events', { type, data: { orderId: 42 } });
    if (event.status !== 202) throw new Error(`event: ${event.status} ${JSON.stringify(event.body)}`);
    return waitFor(
      async () => (await this.h.call('GET', `/v1/deliveries?eventId=${event.body.id}`)).body.data?.[0],
      'the delivery',
    );
  }

  async get(id: string): Promise<Delivery> {
    return (await this.h.call('GET', `/v1/deliveries/${id}`)).body;
  }

  async finished(id: string, timeoutMs = 30_000): Promise<Delivery> {
    return waitFor(
      async () => {
        const delivery = await this.get(id);
        return delivery.status === 'pending' ? undefined : delivery;
      },
      `delivery ${id} to finish`,
      timeoutMs,
    );
  }

  async attempted(id: string, count: number): Promise<void> {
    await waitFor(
      async () => ((await this.get(id)).attemptCount >= count ? true : undefined),
      `${count} attempts of ${id}`,
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.receivers.map((r) => r.close()));
  }
}

/**
 * Writes the workflow's history as the Temporal CLI exports it (`temporal workflow show --output
 * json`): the JSON form every Temporal tool reads, including the SDK's replayer.
 */
async function save(env: TestWorkflowEnvironment, shape: Shape, workflowId: string): Promise<void> {
  await env.client.workflow
    .getHandle(workflowId)
    .result()
    .catch(() => undefined);
  const { stdout } = await execFileAsync(
    process.env.TEMPORAL_CLI_PATH as string,
    [
      'workflow',
      'show',
      '--workflow-id',
      workflowId,
      '--address',
      env.address,
      '--namespace',
      env.namespace ?? 'default',
      '--output',
      'json',
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const history = JSON.parse(stdout) as { events: unknown[] };
  const file = path.join(HISTORIES_DIR, GENERATION ? `${shape}@${GENERATION}.json` : `${shape}.json`);
  await writeFile(file, `${JSON.stringify(history, null, 2)}\n`);
  process.stdout.write(`recorded ${shape}: ${history.events.length} events → ${path.relative(process.cwd(), file)}\n`);
}

/** The shapes recorded on a real dev server. */
const LIVE: Partial<Record<Shape, (r: Recorder, client: Client) => Promise<string>>> = {
  async success(r) {
    const d = await r.deliver('success', await r.receiver(always(200)));
    await r.finished(d.id);
    return d.workflowId;
  },
  async 'retries-then-success'(r) {
    const d = await r.deliver(
      'retries-then-success',
      await r.receiver(sequence({ status: 500 }, { status: 500 }, { status: 200 })),
    );
    await r.finished(d.id);
    return d.workflowId;
  },
  async 'retry-after-429'(r) {
    const d = await r.deliver(
      'retry-after-429',
      await r.receiver(sequence({ status: 429, headers: { 'retry-after': '2' } }, { status: 200 })),
    );
    await r.finished(d.id);
    return d.workflowId;
  },
  async 'rejected-4xx'(r) {
    const d = await r.deliver('rejected-4xx', await r.receiver(always(404)));
    await r.finished(d.id);
    return d.workflowId;
  },
  async 'cancelled-by-signal'(r) {
    const d = await r.deliver('cancelled-by-signal', await r.receiver(always(500)), SLOW_RETRY);
    await r.attempted(d.id, 1);
    await r.h.call('POST', `/v1/deliveries/${d.id}/cancel`);
    await r.finished(d.id);
    return d.workflowId;
  },
  async 'cancelled-in-temporal'(r, client) {
    const d = await r.deliver('cancelled-in-temporal', await r.receiver(always(500)), SLOW_RETRY);
    await r.attempted(d.id, 1);
    await client.workflow.getHandle(d.workflowId).cancel();
    await r.finished(d.id);
    return d.workflowId;
  },
  async 'resend-pending'(r) {
    const d = await r.deliver(
      'resend-pending',
      await r.receiver(sequence({ status: 503 }, { status: 200 })),
      SLOW_RETRY,
    );
    await r.attempted(d.id, 1);
    await r.h.call('POST', `/v1/deliveries/${d.id}/resend`);
    await r.finished(d.id);
    return d.workflowId;
  },
  async 'resend-after-failure'(r) {
    const receiver = await r.receiver(always(404));
    const d = await r.deliver('resend-after-failure', receiver);
    await r.finished(d.id);
    receiver.script = always(200);
    await r.h.call('POST', `/v1/deliveries/${d.id}/resend`);
    await waitFor(async () => ((await r.get(d.id)).status === 'succeeded' ? true : undefined), 'the resent delivery');
    return d.workflowId;
  },
};

async function recordLive(shapes: readonly Shape[]): Promise<void> {
  if (shapes.length === 0) return;
  const env = await createTestTemporal();
  const h = await startHarness({ env, attemptTimeoutMs: 1_000 });
  const r = new Recorder(h);
  try {
    for (const shape of shapes)
      await save(env, shape, await (LIVE[shape] as NonNullable<(typeof LIVE)[Shape]>)(r, h.client));
  } finally {
    await r.close();
    await h.close();
    await env.teardown();
  }
}

/** The 48 h window, on the time-skipping server: awaiting the result skips the waits. */
async function recordWindow(): Promise<void> {
  const env: TestWorkflowEnvironment = await createTimeSkippingTemporal();
  const h = await startHarness({ env });
  const r = new Recorder(h);
  try {
    const d = await r.deliver('window-48h', await r.receiver(always(500)), {});
    await save(env, 'window-48h', d.workflowId);
  } finally {
    await r.close();
    await h.close();
    await env.teardown();
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const log = (msg: string): void => void process.stdout.write(`${msg}\n`);
  process.env.TEMPORAL_CLI_PATH = await findTemporalCli({
    explicitPath: process.env.TEMPORAL_CLI_PATH,
    toolsDir: DEFAULT_TOOLS_DIR,
    log,
  });
  process.env.TEMPORAL_TEST_SERVER_PATH = await findTemporalTestServer({
    explicitPath: process.env.TEMPORAL_TEST_SERVER_PATH,
    toolsDir: DEFAULT_TOOLS_DIR,
    log,
  });
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((shape) => !(shape in SHAPES));
  if (unknown.length > 0)
    throw new Error(`unknown shapes: ${unknown.join(', ')}; known: ${Object.keys(SHAPES).join(', ')}`);
  const shapes = (wanted.length > 0 ? wanted : Object.keys(SHAPES)) as Shape[];
  await recordLive(shapes.filter((shape) => shape in LIVE));
  if (shapes.includes('window-48h')) await recordWindow();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
