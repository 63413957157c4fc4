import { Client } from '@temporalio/client';
// lib/worker and lib/client, not the package's index: that would load the OpenTelemetry SDK whether tracing is on or not.
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/worker';
import type { OpenTelemetryWorkflowExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions';
import { type InjectedSink, type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { TargetPolicy } from '../core/targets';
import type { DeliveryRecords } from '../activities/delivery-records';
import { createRetentionActivities, type RetentionRecords } from '../activities/retention';
import type { DeliveryMetrics } from '../activities/metrics';
import { createActivities } from '../activities';
import { createOperationActivities, type OperationActivityDeps } from '../activities/operations';
import type { SubscriptionHealthGuard } from '../activities/subscription-health';
import type { OperationalEvents } from '../activities/operational-events';
import { createHttpAgent } from '../activities/http';
import { targetConnector } from '../activities/connect';
import { bundleInChildProcess } from './temporal/workflow-bundle';
import type { Tracing } from './tracing';

export interface DeliveryWorkerDeps {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly deliveries: DeliveryRecords;
  /** Where the retention workflow removes expired rows. */
  readonly retention: RetentionRecords;
  /** What bulk operations' batches read, write and restart (recover, replay). */
  readonly operations: OperationActivityDeps;
  /** Told of failed attempts, to disable a subscription whose failures call for it. @default none */
  readonly health?: SubscriptionHealthGuard;
  /** Told of deliveries that ended failed, for the operational event. @default none */
  readonly operationalEvents?: OperationalEvents;
  readonly logger: Logger;
  readonly targets: TargetPolicy;
  /** CA certificates (PEM) trusted besides the usual roots; operators use NODE_EXTRA_CA_CERTS. @default none */
  readonly extraCa?: string | readonly string[];
  /** Pre-bundled workflow code; bundled from workflows/ at start-up (in a child process) when absent. */
  readonly workflowBundle?: WorkerOptions['workflowBundle'];
  /**
   * On shutdown (SIGTERM), how long attempts in flight may run to completion before they are
   * aborted, ms. Give it the attempt timeout and some: an attempt let finish is one the receiver
   * does not see twice. @default 0 (abort at once)
   */
  readonly shutdownGraceMs?: number;
  /** Where attempts and delivery outcomes are counted. @default none */
  readonly metrics?: DeliveryMetrics;
  /** Spans for workflows started traced and their attempts (src/tracing.ts). @default none */
  readonly tracing?: Tracing;
  /** Extra worker tuning (concurrency, cache size…), for benchmarks and tests. @default maxCachedWorkflows 50, the rest the SDK's */
  readonly tuning?: Partial<WorkerOptions>;
}

/**
 * Workflows kept in the worker's cache. The SDK's default grows with the heap limit (about 2,300
 * on a 4 GB heap), which a retry storm fills with deliveries that only wait on a timer. A
 * delivery's history is a dozen events, so replaying one that was evicted costs little, and a
 * delivery answered 2xx ends in its first workflow task. 50 kept the worker under 300 MB with
 * 2,000 deliveries waiting where 250 took it to 371 MB (docs/benchmarks.md).
 */
const DEFAULT_MAX_CACHED_WORKFLOWS = 50;

/** After the grace period, how long aborted attempts get to record themselves before the worker gives up, ms. */
const SHUTDOWN_FORCE_AFTER_GRACE_MS = 10_000;

/**
 * Where the workflow interceptors (workflows/interceptors.ts) send the spans of workflows started
 * traced, with tracing off in this process: nowhere. Registered so that such a workflow never
 * calls a sink the worker does not have.
 */
const DROPPED_WORKFLOW_SPANS: InjectedSink<OpenTelemetryWorkflowExporter> = { export: { fn: () => undefined } };

/** The worker's tracing: an activity span under the workflow's, and the workflow spans' sink. */
function tracingOptions(tracing: Tracing | undefined): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  if (!tracing) return { sinks: { exporter: DROPPED_WORKFLOW_SPANS } };
  return {
    interceptors: {
      activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }) })],
    },
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
  };
}

/** The worker that runs delivery workflows, the retention workflow and their activities. Run it with `worker.run()`. */
export async function createDeliveryWorker(deps: DeliveryWorkerDeps): Promise<Worker> {
  // Every connection is checked against the target policy on the address actually connected to.
  const http = createHttpAgent(
    targetConnector({ policy: deps.targets, ...(deps.extraCa !== undefined ? { extraCa: deps.extraCa } : {}) }),
  );
  const activities = createActivities({
    deliveries: deps.deliveries,
    http,
    logger: deps.logger,
    targets: deps.targets,
    client: new Client({ connection: deps.connection, namespace: deps.namespace }),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.health ? { health: deps.health } : {}),
    ...(deps.operationalEvents ? { operationalEvents: deps.operationalEvents } : {}),
  });
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    activities: {
      ...activities,
      ...createRetentionActivities({ retention: deps.retention, logger: deps.logger }),
      ...createOperationActivities(deps.operations),
    },
    workflowBundle: deps.workflowBundle ?? (await bundleInChildProcess()),
    maxCachedWorkflows: DEFAULT_MAX_CACHED_WORKFLOWS,
    ...tracingOptions(deps.tracing),
    ...(deps.shutdownGraceMs
      ? {
          shutdownGraceTime: deps.shutdownGraceMs,
          shutdownForceTime: deps.shutdownGraceMs + SHUTDOWN_FORCE_AFTER_GRACE_MS,
        }
      : {}),
    ...deps.tuning,
  });
}
