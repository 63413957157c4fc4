/**
 * The whole service wired for a test: a real Temporal server (shared per test file), a PGlite or
 * PostgreSQL store, the worker, and the API on a random loopback port.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { TargetPolicy } from '../../core/targets';
import { DEFAULT_AUTO_DISABLE } from '../../core/subscription-health';
import type { ApiServer } from '../../src/api/server';
import { createLogger } from '../../src/logger';
import { startService, type ServiceOptions, type ServiceSettings } from '../../src/service';
import type { Store } from '../../src/store';
import type { Db } from '../../src/store/db';
import { openPglite } from '../../src/store/pglite';
import { migrate } from '../../src/store/migrations';
import type { KeyRing } from '../../src/store/secret-box';
import { workflowBundleOptions } from '../../src/temporal/workflow-bundle';
import type { Tracing } from '../../src/tracing';
import { testKeyRing } from './key-ring';
import { waitFor } from './wait';

let bundle: Promise<{ code: string }> | undefined;

/** The workflow code: the bundle global-setup.ts built once for the run, read once per test file. */
export function workflowBundle(): Promise<{ code: string }> {
  const prebuilt = process.env.TEMPORAL_WORKFLOW_BUNDLE;
  bundle ??= prebuilt
    ? readFile(prebuilt, 'utf8').then((code) => ({ code }))
    : bundleWorkflowCode({
        ...workflowBundleOptions(),
        logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
      });
  return bundle;
}

export interface HarnessOptions {
  readonly env: TestWorkflowEnvironment;
  /** The store's database. @default a fresh in-memory PGlite */
  readonly db?: Db;
  /** WEBHOOKS_ENCRYPTION_KEYS. @default the tests' ring (test/helpers/key-ring.ts) */
  readonly keyRing?: KeyRing;
  /** Per-attempt timeout, ms. @default 2000 */
  readonly attemptTimeoutMs?: number;
  /** Start a worker in the same process (the API then starts deliveries eagerly, as `npm start` does). @default true */
  readonly worker?: boolean;
  readonly workerTuning?: Partial<WorkerOptions>;
  readonly logger?: Logger;
  /** Delivery target rules. @default insecure (http:// and loopback allowed) */
  readonly targets?: TargetPolicy;
  /** CA certificates (PEM) the worker trusts besides the usual roots. @default none */
  readonly extraCa?: string;
  /** Largest accepted request body, bytes. @default 1048576 */
  readonly maxBodyBytes?: number;
  /** The dispatcher's first-attempt window. @default its defaults (128, 32 per subscription) */
  readonly firstAttemptWindow?: ServiceOptions['firstAttemptWindow'];
  /** WEBHOOKS_DELIVERY_MODE. @default 'per-delivery' */
  readonly deliveryMode?: ServiceSettings['deliveryMode'];
  /** WEBHOOKS_FAIRNESS. @default true, as the service's */
  readonly fairness?: boolean;
  /** WEBHOOKS_DISABLE_AFTER and WEBHOOKS_DISABLE_ON_GONE. @default the service's defaults (5 days; on) */
  readonly autoDisable?: ServiceSettings['autoDisable'];
  /** Where the SDK serves its worker metrics (the test installed the runtime with them). @default none */
  readonly sdkMetricsUrl?: string;
  /** Tracing the test started (src/tracing.ts startTracingWith); the test shuts it down. @default off */
  readonly tracing?: Tracing;
}

export interface ApiAnswer<T = any> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

export interface Harness {
  readonly store: Store;
  readonly api: ApiServer;
  readonly client: Client;
  readonly apiKey: string;
  readonly taskQueue: string;
  /** Calls the API with the admin key (or the given headers). */
  call<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer<T>>;
  /** The delivery as `GET /v1/deliveries/:id` answers once it is no longer pending (fails after `timeoutMs`). */
  finished(deliveryId: string, timeoutMs?: number): Promise<any>;
  close(): Promise<void>;
}

/** The service's settings for a test: loopback, a task queue of its own, short attempts. */
function testSettings(taskQueue: string, options: HarnessOptions): ServiceSettings {
  return {
    port: 0,
    allowInsecureTargets: true,
    allowedTargetCidrs: [],
    allowedTargetPorts: [],
    attemptTimeoutMs: options.attemptTimeoutMs ?? 2_000,
    deliveryMode: options.deliveryMode ?? 'per-delivery',
    ...(options.fairness !== undefined ? { fairness: options.fairness } : {}),
    autoDisable: options.autoDisable ?? DEFAULT_AUTO_DISABLE,
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
    temporal: {
      namespace: options.env.namespace ?? 'default',
      taskQueue,
      uiUrl: 'http://localhost:8233',
      workflowBundlePath: undefined,
    },
  };
}

/**
 * One more worker for a harness's task queue and store (`npm run worker` beside `npm start`):
 * the same settings, its own Temporal connection. Close it before the harness.
 */
export async function startExtraWorker(
  h: Harness,
  options: HarnessOptions & { readonly db: Db },
): Promise<{ close(): Promise<void> }> {
  const service = await startService({
    role: 'worker',
    settings: testSettings(h.taskQueue, options),
    logger: options.logger ?? createLogger('silent'),
    temporalAddress: options.env.address,
    db: options.db,
    keyRing: options.keyRing ?? testKeyRing(),
    apiKeys: [h.apiKey],
    host: '127.0.0.1',
    targets: options.targets ?? { allowInsecure: true },
    workflowBundle: await workflowBundle(),
  });
  return { close: () => service.close() };
}

/** The service as `startService` wires it for production, against the test's Temporal server. */
export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const db = options.db ?? (await openPglite(undefined));
  await migrate(db);
  const taskQueue = `test-${randomUUID()}`;
  const apiKey = `test-key-${randomUUID()}`;
  const service = await startService({
    role: options.worker === false ? 'api' : 'all',
    settings: testSettings(taskQueue, options),
    logger: options.logger ?? createLogger('silent'),
    temporalAddress: options.env.address,
    db,
    keyRing: options.keyRing ?? testKeyRing(),
    apiKeys: [apiKey],
    host: '127.0.0.1',
    targets: options.targets ?? { allowInsecure: true },
    ...(options.extraCa !== undefined ? { extraCa: options.extraCa } : {}),
    ...(options.worker === false ? {} : { workflowBundle: await workflowBundle() }),
    ...(options.workerTuning ? { workerTuning: options.workerTuning } : {}),
    ...(options.sdkMetricsUrl !== undefined ? { sdkMetricsUrl: options.sdkMetricsUrl } : {}),
    ...(options.tracing ? { tracing: options.tracing } : {}),
    ...(options.firstAttemptWindow ? { firstAttemptWindow: options.firstAttemptWindow } : {}),
  });
  const api = service.api as ApiServer;

  const harness: Harness = {
    store: service.store,
    api,
    client: service.client,
    apiKey,
    taskQueue,
    async call(method, path, body, headers) {
      const response = await fetch(`${api.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${apiKey}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed as never, headers: response.headers };
    },
    async finished(deliveryId, timeoutMs = 20_000) {
      return waitFor(
        async () => {
          const res = await harness.call('GET', `/v1/deliveries/${deliveryId}`);
          return res.body.status === 'pending' ? undefined : res.body;
        },
        `delivery ${deliveryId} to finish`,
        timeoutMs,
        100,
      );
    },
    async close() {
      await service.close();
      if (!options.db) await db.close();
    },
  };
  return harness;
}
