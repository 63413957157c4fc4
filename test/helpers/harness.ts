/**
 * The whole service wired for a test: a real Temporal server (shared per test file), a PGlite or
 * PostgreSQL store, the worker, and the API on a random loopback port.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { TargetPolicy } from '../../core/targets';
import { startApiServer, type ApiServer } from '../../src/api/server';
import { createLogger } from '../../src/logger';
import { createStore, type Store } from '../../src/store';
import type { Db } from '../../src/store/db';
import { openPglite } from '../../src/store/pglite';
import { migrate } from '../../src/store/migrations';
import { createDeliveryWorker } from '../../src/worker';

let bundle: Promise<{ code: string }> | undefined;

/** The workflow code: the bundle global-setup.ts built once for the run, read once per test file. */
export function workflowBundle(): Promise<{ code: string }> {
  const prebuilt = process.env.TEMPORAL_WORKFLOW_BUNDLE;
  bundle ??= prebuilt
    ? readFile(prebuilt, 'utf8').then((code) => ({ code }))
    : bundleWorkflowCode({
        workflowsPath: require.resolve('../../workflows'),
        logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
      });
  return bundle;
}

export interface HarnessOptions {
  readonly env: TestWorkflowEnvironment;
  /** The store's database. @default a fresh in-memory PGlite */
  readonly db?: Db;
  /** Per-attempt timeout, ms. @default 2000 */
  readonly attemptTimeoutMs?: number;
  /** Start a worker. @default true */
  readonly worker?: boolean;
  readonly workerTuning?: Partial<WorkerOptions>;
  readonly logger?: Logger;
  /** Delivery target rules. @default insecure (http:// and loopback allowed) */
  readonly targets?: TargetPolicy;
  /** CA certificates (PEM) the worker trusts besides the usual roots. @default none */
  readonly extraCa?: string;
  /** Largest accepted request body, bytes. @default 1048576 */
  readonly maxBodyBytes?: number;
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
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const logger = options.logger ?? createLogger('silent');
  const db = options.db ?? (await openPglite(undefined));
  await migrate(db);
  const store = createStore(db);
  const taskQueue = `test-${randomUUID()}`;
  const apiKey = `test-key-${randomUUID()}`;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 2_000;
  const client = options.env.client;
  const targets = options.targets ?? { allowInsecure: true };

  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  const startWorker = async (): Promise<void> => {
    worker = await createDeliveryWorker({
      connection: options.env.nativeConnection,
      namespace: options.env.namespace ?? 'default',
      taskQueue,
      store,
      logger,
      targets,
      ...(options.extraCa !== undefined ? { extraCa: options.extraCa } : {}),
      workflowBundle: await workflowBundle(),
      ...(options.workerTuning ? { tuning: options.workerTuning } : {}),
    });
    running = worker.run();
  };
  const stopWorker = async (): Promise<void> => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    worker = undefined;
  };
  if (options.worker !== false) await startWorker();

  const api = await startApiServer({
    client,
    store,
    logger,
    port: 0,
    host: '127.0.0.1',
    apiKeys: [apiKey],
    taskQueue,
    attemptTimeoutMs,
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
    temporalUiUrl: 'http://localhost:8233',
    targets,
  });

  return {
    store,
    api,
    client,
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
    startWorker,
    stopWorker,
    async close() {
      await api.close();
      await stopWorker();
      if (!options.db) await db.close();
    },
  };
}
