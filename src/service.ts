/**
 * The composition root: the one place the service is assembled from its parts. `npm start`,
 * `npm run api`, `npm run worker` (through main.ts), the tests and the benchmark all start the
 * service here, so what they run is what production runs: eager start when the worker shares the
 * process, the shutdown grace, the same connections.
 */
import { Client } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import { NativeConnection, type Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { TargetPolicy } from '../core/targets';
import { startApiServer, type ApiServer } from './api/server';
import type { Config } from './config';
import { ServiceMetrics } from './metrics/service-metrics';
import { createStore, type Store } from './store';
import type { Db } from './store/db';
import { resealSecrets } from './store/reseal';
import type { KeyRing } from './store/secret-box';
import { connectClient } from './temporal/connection';
import type { Tracing } from './tracing';
import type { DispatcherOptions } from './temporal/dispatcher';
import { SubscriptionDisabler } from './temporal/subscription-disabler';
import { createDeliveryRestarter } from './temporal/operation-control';
import { OperationalEventPublisher, registerOperationalEventTypes } from './temporal/operational-events';
import { createDeliveryWorker } from './worker';

/** What runs in this process: the API, the worker, or both. */
export type ServiceRole = 'all' | 'api' | 'worker';

/** The settings of the service that come from the configuration (see src/config.ts). */
export type ServiceSettings = Pick<
  Config,
  | 'port'
  | 'allowInsecureTargets'
  | 'allowedTargetCidrs'
  | 'allowedTargetPorts'
  | 'deliveryMode'
  | 'autoDisable'
  | 'attemptTimeoutMs'
  | 'maxBodyBytes'
> &
  Partial<Pick<Config, 'fairness'>> & {
    readonly temporal: Pick<Config['temporal'], 'namespace' | 'taskQueue' | 'uiUrl' | 'workflowBundlePath'>;
  };

export interface ServiceOptions {
  readonly role: ServiceRole;
  readonly settings: ServiceSettings;
  readonly logger: Logger;
  /** Address of the Temporal frontend, e.g. `127.0.0.1:7233`. */
  readonly temporalAddress: string;
  /** The store's database, opened and migrated (see openStoreDb); its owner closes it. */
  readonly db: Db;
  /** Seals the secrets at rest (WEBHOOKS_ENCRYPTION_KEYS); every process on one store needs its keys. */
  readonly keyRing: KeyRing;
  /** Admin API keys; the API refuses every request without one. @default none */
  readonly apiKeys?: readonly string[];
  /** Interface the API listens on. @default all interfaces */
  readonly host?: string;
  /** Delivery target rules. @default from the settings (insecure, CIDRs and ports) */
  readonly targets?: TargetPolicy;
  /** CA certificates (PEM) the worker trusts besides the usual roots. @default none */
  readonly extraCa?: string;
  /** Workflow code bundled ahead of time. @default the settings' bundle path, else bundled at start */
  readonly workflowBundle?: WorkerOptions['workflowBundle'];
  /** Worker tuning (concurrency, cache size…), for benchmarks. @default the worker's defaults */
  readonly workerTuning?: Partial<WorkerOptions>;
  /** Workflow starts in flight at once for one event. @default the dispatcher's (32) */
  readonly startConcurrency?: number;
  /** The first-attempt window's size (see FirstAttemptWindowOptions), for tests. @default its defaults */
  readonly firstAttemptWindow?: DispatcherOptions['firstAttemptWindow'];
  /** Start deliveries eagerly on the worker in this process. @default true when the role is 'all' */
  readonly eagerStart?: boolean;
  /**
   * Prometheus metrics: counted, and served at the API's `GET /metrics` (in the `worker` role,
   * main.ts serves them on METRICS_PORT). Off only to measure what they cost. @default true
   */
  readonly metrics?: boolean;
  /** Where the SDK serves its worker metrics (see installSdkLogging), appended to ours. @default none */
  readonly sdkMetricsUrl?: string;
  /** Tracing, started for the process (src/tracing.ts); its owner shuts it down. @default off */
  readonly tracing?: Tracing;
}

export interface Service {
  readonly store: Store;
  /** The API's Temporal client. */
  readonly client: Client;
  /** Undefined when the role is 'worker'. */
  readonly api: ApiServer | undefined;
  /** Settles when the worker stops; undefined when the role is 'api'. */
  readonly workerRun: Promise<void> | undefined;
  /** This process's metrics (the API's, the worker's, or both); undefined when off. */
  readonly metrics: ServiceMetrics | undefined;
  /** Stops the API, then the worker (attempts in flight get the grace period), then the connections. */
  close(): Promise<void>;
}

/** On shutdown, attempts in flight may finish for the attempt timeout plus this, ms. */
const SHUTDOWN_GRACE_MARGIN_MS = 5_000;

/** The target rules the settings describe. */
export function targetPolicyOf(settings: ServiceSettings): TargetPolicy {
  return {
    allowInsecure: settings.allowInsecureTargets,
    allowedCidrs: settings.allowedTargetCidrs,
    allowedPorts: settings.allowedTargetPorts,
  };
}

/**
 * Seals stored secrets not under the ring's current key yet (stored before sealing, or under an
 * older key) while the service runs; the API processes do it, as they write the secrets. Returns
 * its closer, which stops it between two batches.
 */
function resealInBackground(db: Db, keyRing: KeyRing, logger: Logger): () => Promise<void> {
  const stop = new AbortController();
  const done = resealSecrets(db, keyRing, { signal: stop.signal }).then(
    (report) => {
      const summary = { keyId: keyRing.currentKeyId, resealed: report.resealed, unreadable: report.unreadableCount };
      if (report.unreadableCount > 0) {
        logger.error(
          { ...summary, rows: report.unreadable },
          'stored secrets that no key of WEBHOOKS_ENCRYPTION_KEYS opens: their deliveries fail until the key that sealed them is back in the ring',
        );
      } else if (report.complete) {
        logger.info(summary, 'every stored secret is sealed under the current key');
      }
    },
    (error: unknown) => logger.error({ err: error }, 'sealing stored secrets failed; the next start tries again'),
  );
  return async () => {
    stop.abort();
    await done;
  };
}

/** Starts the parts of the service its role names. On failure, whatever started is stopped again. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const { settings, logger, role } = options;
  const store = createStore(options.db, options.keyRing);
  const targets = options.targets ?? targetPolicyOf(settings);
  const metrics =
    options.metrics === false
      ? undefined
      : new ServiceMetrics(options.sdkMetricsUrl !== undefined ? { sdkMetricsUrl: options.sdkMetricsUrl } : {});
  // The store's gauges come from the API processes (every instance reads the same store).
  if (metrics && role !== 'worker') {
    metrics.watchBacklog({
      outbox: () => store.events.outboxBacklog(),
      pendingDeliveries: () => store.deliveries.countPending(),
    });
  }
  const closers: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const closeNext of closers.splice(0).reverse()) {
      await closeNext().catch((error: unknown) => logger.warn({ err: error }, 'error while shutting down'));
    }
  };
  try {
    // Traced, a workflow start is a span whose context travels in the workflow's headers.
    const clientInterceptors = options.tracing
      ? { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: options.tracing.tracer })] }
      : undefined;
    await registerOperationalEventTypes(store);
    const client = await connectClient(options.temporalAddress, settings.temporal.namespace, clientInterceptors);
    closers.push(() => client.connection.close());
    if (role !== 'worker') closers.push(resealInBackground(options.db, options.keyRing, logger));

    let workerRun: Promise<void> | undefined;
    let eagerClient: Client | undefined;
    if (role !== 'api') {
      const connection = await NativeConnection.connect({ address: options.temporalAddress });
      closers.push(() => connection.close());
      const bundlePath = settings.temporal.workflowBundlePath;
      const operationalEvents = new OperationalEventPublisher({ store, logger });
      const disabler = new SubscriptionDisabler({
        store,
        client,
        logger,
        settings: settings.autoDisable,
        events: operationalEvents,
      });
      closers.push(() => disabler.stop());
      const restarter = createDeliveryRestarter({
        client,
        store,
        logger,
        taskQueue: settings.temporal.taskQueue,
        attemptTimeoutMs: settings.attemptTimeoutMs,
        mode: settings.deliveryMode,
        ...(settings.fairness !== undefined ? { fairness: settings.fairness } : {}),
      });
      closers.push(restarter.stop);
      const worker: Worker = await createDeliveryWorker({
        connection,
        namespace: settings.temporal.namespace,
        taskQueue: settings.temporal.taskQueue,
        deliveries: store.deliveries,
        retention: store.retention,
        operations: { operations: store.operations, restarts: restarter.restarts },
        health: disabler,
        operationalEvents,
        logger,
        targets,
        // SIGTERM lets attempts in flight finish (each is bounded by the attempt timeout) and record themselves.
        shutdownGraceMs: settings.attemptTimeoutMs + SHUTDOWN_GRACE_MARGIN_MS,
        ...(options.extraCa !== undefined ? { extraCa: options.extraCa } : {}),
        ...(options.workflowBundle
          ? { workflowBundle: options.workflowBundle }
          : bundlePath
            ? { workflowBundle: { codePath: bundlePath } }
            : {}),
        ...(options.workerTuning ? { tuning: options.workerTuning } : {}),
        ...(metrics ? { metrics } : {}),
        ...(options.tracing ? { tracing: options.tracing } : {}),
      });
      const run = worker.run();
      workerRun = run;
      closers.push(async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await run.catch(() => undefined);
      });
      // With the worker in this process, delivery workflows start eagerly: Temporal hands each
      // one's first task straight back to this worker instead of queueing it for a poll (halves the
      // time from POST to the receiver, docs/benchmarks.md). Eager start needs the worker's connection.
      if (options.eagerStart ?? role === 'all') {
        eagerClient = new Client({
          connection,
          namespace: settings.temporal.namespace,
          ...(clientInterceptors ? { interceptors: clientInterceptors } : {}),
        });
      }
      logger.info({ taskQueue: settings.temporal.taskQueue }, 'worker running');
    }

    let api: ApiServer | undefined;
    if (role !== 'worker') {
      api = await startApiServer({
        client,
        store,
        logger,
        port: settings.port,
        ...(options.host !== undefined ? { host: options.host } : {}),
        apiKeys: options.apiKeys ?? [],
        taskQueue: settings.temporal.taskQueue,
        attemptTimeoutMs: settings.attemptTimeoutMs,
        maxBodyBytes: settings.maxBodyBytes,
        temporalUiUrl: settings.temporal.uiUrl,
        targets,
        deliveryMode: settings.deliveryMode,
        ...(settings.fairness !== undefined ? { fairness: settings.fairness } : {}),
        dispatch: {
          ...(eagerClient ? { client: eagerClient, eagerStart: true } : {}),
          ...(options.startConcurrency !== undefined ? { startConcurrency: options.startConcurrency } : {}),
          ...(options.firstAttemptWindow ? { firstAttemptWindow: options.firstAttemptWindow } : {}),
        },
        ...(metrics ? { metrics } : {}),
        ...(options.tracing ? { tracer: options.tracing.tracer } : {}),
      });
      closers.push(api.close);
      logger.info({ url: api.url, openapi: `${api.url}/openapi.json` }, 'API listening');
    }
    return { store, client, api, workerRun, metrics, close };
  } catch (error) {
    await close();
    throw error;
  }
}
