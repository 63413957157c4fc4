/**
 * Records subscriber workflow histories (throughput mode) into histories/subscriber/<name>.json,
 * for subscriber-replay.test.ts. The real workflow code runs against real Temporal servers, with
 * the activities replaced by scripted mocks of the same names (as in
 * test/workflows/subscriber-workflow.test.ts): no store and no HTTP are needed for the histories,
 * which hold only what the workflows did.
 *
 *   npx tsx test/replay/record-subscriber.ts            # every shape
 *   npx tsx test/replay/record-subscriber.ts handed-on  # some shapes
 *
 * The point of recorded histories is that earlier code wrote them and the current code must
 * replay them: record a shape when it is added, keep the files after that.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type {
  Activities,
  PostWebhookInput,
  PostWebhookResult,
  RecordOutcomeInput,
  RetryDetails,
} from '../../activities';
import { DEFAULT_TOOLS_DIR, findTemporalCli } from '../../devtools/temporal-cli';
import { DEFAULT_RETRY_POLICY, FINAL_FAILURE_TYPES } from '../../core/retry-policy';
import { SEARCH_ATTRIBUTE_KEYS, SUBSCRIPTION_ID } from '../../core/search-attributes';
import { deliveryWorkflowId, subscriberWorkflowId } from '../../core/workflow-ids';
import type { subscriberWorkflow } from '../../workflows';
import {
  cancelQueuedUpdate,
  enqueueUpdate,
  SUBSCRIBER_LIMITS,
  subscriberStatusQuery,
  type QueuedDelivery,
} from '../../workflows/subscriber-messages';
import { workflowBundle } from '../helpers/harness';
import { findTemporalTestServer } from '../helpers/temporal-test-server';
import { createTimeSkippingTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';
import { HISTORIES_DIR } from './histories';

const execFileAsync = promisify(execFile);
export const SUBSCRIBER_HISTORIES_DIR = path.join(HISTORIES_DIR, 'subscriber');

/** What each recorded history holds, by file name. */
export const SUBSCRIBER_HISTORIES = {
  'handed-on':
    'a subscriber run: three deliveries answered 2xx, one retryable failure and one 404 handed on to their delivery workflows, one whose subscription was gone recorded cancelled; ends idle',
  'handed-on.retried-delivery':
    'the delivery workflow the retryable first failure was handed to: it waits as the attempt asked, then delivers with the regular activity',
  'handed-on.rejected-delivery': 'the delivery workflow the 404 was handed to: it ends Failed at once',
  'cancel-queued':
    'a subscriber run holding 33 deliveries (32 attempts in flight): cancelQueued of the queued one, of one in flight, of an unknown one; an enqueue of one it holds; ends idle',
  'continued-as-new':
    'a subscriber run woken past the suggested history length with attempts in flight: it refuses new deliveries, waits for them, commits them, and continues as new with its queue',
  'continued-as-new.next-run': 'the run it continued as: attempts the queue carried over, ends idle',
} as const;

type Name = keyof typeof SUBSCRIBER_HISTORIES;

/** Events past which the dev server suggests continuing as new, for the continued-as-new shape. */
const SUGGEST_CONTINUE_AS_NEW_AT = 40;

// ---------------------------------------------------------------------------------------------

type Answer = () => Promise<void>;

/** The activities, scripted by delivery id; `held` attempts answer 2xx once released (or end cancelled). */
class Mocks {
  readonly attempts: string[] = [];
  readonly outcomes: RecordOutcomeInput[] = [];
  private readonly scripts = new Map<string, Answer>();
  private releaseHeld!: () => void;
  private readonly released = new Promise<void>((resolve) => (this.releaseHeld = resolve));

  constructor(private readonly env: TestWorkflowEnvironment) {}

  readonly held: Answer = async () => {
    await Promise.race([this.released, Context.current().cancelled]);
  };

  script(delivery: QueuedDelivery, answer: Answer): void {
    this.scripts.set(delivery.deliveryId, answer);
  }

  release(): void {
    this.releaseHeld();
  }

  /** A retryable failure whose next attempt is due `ms` after now (server time). */
  failsRetryingIn(ms: number): Answer {
    return async () => {
      const details: RetryDetails = { nextAttemptAt: (await this.env.currentTimeMs()) + ms };
      throw ApplicationFailure.create({
        message: 'receiver answered HTTP 500',
        type: 'AttemptFailed',
        details: [details],
        category: ApplicationFailureCategory.BENIGN,
      });
    };
  }

  failsFinally(type: string, message: string): Answer {
    return async () => {
      throw ApplicationFailure.create({
        message,
        type,
        nonRetryable: true,
        category: ApplicationFailureCategory.BENIGN,
      });
    };
  }

  readonly activities: Activities = {
    postWebhook: async (input: PostWebhookInput): Promise<PostWebhookResult> => {
      this.attempts.push(input.deliveryId);
      // Only a delivery's first attempt follows its script; a retry is answered 2xx.
      const first = this.attempts.filter((id) => id === input.deliveryId).length === 1;
      await ((first ? this.scripts.get(input.deliveryId) : undefined) ?? (async () => undefined))();
      return { statusCode: 200, durationMs: 1, attempt: 1 };
    },
    recordOutcome: async (input: RecordOutcomeInput): Promise<void> => {
      this.outcomes.push(input);
    },
    requestCancellation: async (): Promise<void> => {
      const run = Context.current().info.workflowExecution;
      if (run) await this.env.client.workflow.getHandle(run.workflowId, run.runId).cancel();
    },
  };
}

function newDelivery(): QueuedDelivery {
  const id = randomUUID().replaceAll('-', '').slice(0, 20);
  return {
    deliveryId: `dlv_${id}`,
    eventId: `evt_${id}`,
    eventType: 'order.created',
    accountId: null,
    targetHost: 'receiver.example',
    retryPolicy: DEFAULT_RETRY_POLICY,
  };
}

const newDeliveries = (count: number): QueuedDelivery[] => Array.from({ length: count }, newDelivery);

interface Run {
  readonly env: TestWorkflowEnvironment;
  readonly mocks: Mocks;
  readonly subscriptionId: string;
  readonly handle: WorkflowHandle<typeof subscriberWorkflow>;
  readonly firstRunId: string;
  handled(count: number): Promise<void>;
}

/** Runs `body` with a worker of its own and a subscriber workflow started as the dispatcher starts one. */
async function withSubscriber(
  env: TestWorkflowEnvironment,
  options: { workflowTaskTimeout?: string },
  body: (run: Run) => Promise<void>,
): Promise<void> {
  const mocks = new Mocks(env);
  const taskQueue = `record-subscriber-${randomUUID()}`;
  const subscriptionId = `sub_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: mocks.activities,
  });
  await worker.runUntil(async () => {
    try {
      const handle = await env.client.workflow.start<typeof subscriberWorkflow>('subscriberWorkflow', {
        workflowId: subscriberWorkflowId(subscriptionId),
        taskQueue,
        args: [{ subscriptionId, attemptTimeoutMs: 60_000 }],
        typedSearchAttributes: [{ key: SUBSCRIPTION_ID, value: subscriptionId }],
        staticSummary: `first attempts for ${subscriptionId}`,
        ...options,
      });
      await body({
        env,
        mocks,
        subscriptionId,
        handle,
        firstRunId: handle.firstExecutionRunId,
        handled: async (count) => {
          await waitFor(
            async () => ((await handle.query(subscriberStatusQuery)).handled >= count ? true : undefined),
            `${count} deliveries handled`,
          );
        },
      });
    } finally {
      mocks.release();
    }
  });
}

/** Writes a run's history as the Temporal CLI exports it (`temporal workflow show --output json`), as record.ts does. */
async function save(env: TestWorkflowEnvironment, name: Name, workflowId: string, runId?: string): Promise<void> {
  const { stdout } = await execFileAsync(
    process.env.TEMPORAL_CLI_PATH as string,
    [
      'workflow',
      'show',
      '--workflow-id',
      workflowId,
      ...(runId ? ['--run-id', runId] : []),
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
  const file = path.join(SUBSCRIBER_HISTORIES_DIR, `${name}.json`);
  await writeFile(file, `${JSON.stringify(history, null, 2)}\n`);
  process.stdout.write(`recorded ${name}: ${history.events.length} events → ${path.relative(process.cwd(), file)}\n`);
}

// ---------------------------------------------------------------------------------------------
// The shapes

/** On the time-skipping server: the retry's backoff and the idle minute pass when a result is awaited. */
async function recordHandedOn(): Promise<void> {
  const env = await createTimeSkippingTemporal();
  try {
    await withSubscriber(env, {}, async ({ mocks, handle, subscriptionId, handled }) => {
      const [retried, rejected, gone, ...delivered] = newDeliveries(6) as [
        QueuedDelivery,
        QueuedDelivery,
        QueuedDelivery,
        ...QueuedDelivery[],
      ];
      // Shorter than the idle minute: the delivery workflow ends while its parent runs.
      mocks.script(retried, mocks.failsRetryingIn(30_000));
      mocks.script(rejected, mocks.failsFinally(FINAL_FAILURE_TYPES.receiverRejected, 'receiver answered HTTP 404'));
      mocks.script(gone, mocks.failsFinally(FINAL_FAILURE_TYPES.subscriptionGone, 'the subscription was deleted'));
      await handle.executeUpdate(enqueueUpdate, { args: [[delivered[0]!, retried, rejected]] });
      await handle.executeUpdate(enqueueUpdate, { args: [[gone, ...delivered.slice(1)]] });
      await handled(6);
      const child = (delivery: QueuedDelivery) =>
        env.client.workflow.getHandle(deliveryWorkflowId(delivery.eventId, subscriptionId));
      await child(retried).result();
      await child(rejected)
        .result()
        .catch(() => undefined);
      await handle.result();
      await save(env, 'handed-on', handle.workflowId);
      await save(env, 'handed-on.retried-delivery', child(retried).workflowId);
      await save(env, 'handed-on.rejected-delivery', child(rejected).workflowId);
    });
  } finally {
    await env.teardown();
  }
}

async function recordCancelQueued(): Promise<void> {
  const env = await createTimeSkippingTemporal();
  try {
    // While local activities run, new messages reach the workflow within 0.8 s instead of 8.
    await withSubscriber(env, { workflowTaskTimeout: '1s' }, async ({ mocks, handle, handled }) => {
      const batch = newDeliveries(SUBSCRIBER_LIMITS.concurrentAttempts + 1);
      for (const delivery of batch) mocks.script(delivery, mocks.held);
      await handle.executeUpdate(enqueueUpdate, { args: [batch] });
      await waitFor(
        () => (mocks.attempts.length >= SUBSCRIBER_LIMITS.concurrentAttempts ? true : undefined),
        'attempts',
      );
      const cancel = (deliveryId: string) => handle.executeUpdate(cancelQueuedUpdate, { args: [deliveryId] });
      const results = [
        await cancel(batch.at(-1)!.deliveryId),
        await cancel(batch[0]!.deliveryId),
        await cancel('dlv_unknown'),
      ];
      if (results.join() !== 'cancelled,cancelled,not-held') throw new Error(`cancelQueued answered ${results.join()}`);
      await handle.executeUpdate(enqueueUpdate, { args: [[batch[1]!]] });
      mocks.release();
      await handled(batch.length);
      await handle.result();
      await save(env, 'cancel-queued', handle.workflowId);
    });
  } finally {
    await env.teardown();
  }
}

/** On a dev server that suggests continuing as new early, so the run that does is small. */
async function recordContinuedAsNew(): Promise<void> {
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: process.env.TEMPORAL_CLI_PATH as string },
      searchAttributes: SEARCH_ATTRIBUTE_KEYS,
      extraArgs: [
        '--log-level',
        'error',
        '--dynamic-config-value',
        `limit.historyCount.suggestContinueAsNew=${SUGGEST_CONTINUE_AS_NEW_AT}`,
      ],
    },
  });
  try {
    await withSubscriber(env, { workflowTaskTimeout: '1s' }, async ({ mocks, handle, firstRunId, handled }) => {
      const fast = newDeliveries(SUGGEST_CONTINUE_AS_NEW_AT);
      await handle.executeUpdate(enqueueUpdate, { args: [fast] });
      await handled(fast.length);
      // Past the mark: the batch that wakes it is attempted 32 at a time, the rest carried over.
      const last = newDeliveries(SUBSCRIBER_LIMITS.concurrentAttempts + 3);
      for (const delivery of last.slice(0, SUBSCRIBER_LIMITS.concurrentAttempts)) mocks.script(delivery, mocks.held);
      await handle.executeUpdate(enqueueUpdate, { args: [last] });
      await waitFor(
        () => (mocks.attempts.length >= fast.length + SUBSCRIBER_LIMITS.concurrentAttempts ? true : undefined),
        'the attempts in flight',
      );
      mocks.release();
      const next = await waitFor(async () => {
        const { runId } = await handle.describe();
        return runId === firstRunId ? undefined : runId;
      }, 'the run to continue as new');
      await handled(fast.length + last.length);
      // The dev server runs in real time: the next run ends after its idle minute.
      await handle.result();
      await save(env, 'continued-as-new', handle.workflowId, firstRunId);
      await save(env, 'continued-as-new.next-run', handle.workflowId, next);
    });
  } finally {
    await env.teardown();
  }
}

const RECORDERS: Record<string, () => Promise<void>> = {
  'handed-on': recordHandedOn,
  'cancel-queued': recordCancelQueued,
  'continued-as-new': recordContinuedAsNew,
};

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
  await mkdir(SUBSCRIBER_HISTORIES_DIR, { recursive: true });
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((shape) => !(shape in RECORDERS));
  if (unknown.length > 0)
    throw new Error(`unknown shapes: ${unknown.join(', ')}; known: ${Object.keys(RECORDERS).join(', ')}`);
  await Promise.all((wanted.length > 0 ? wanted : Object.keys(RECORDERS)).map((shape) => RECORDERS[shape]!()));
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
