/**
 * A process the benchmark forks, in one of two roles:
 *  - `service`: the service under test, the API and the worker in one process over a PGlite
 *    store, exactly as `npm start` runs them;
 *  - `ceiling`: a bare Temporal worker and client running the minimal workflow (the ceiling).
 * Being processes of their own, their CPU and memory are measured apart from the load
 * generator and the receiver, which stay in the benchmark process.
 *
 * Configured by the BENCH_SERVICE_CONFIG environment variable (JSON, see ServiceConfig); driven
 * over IPC (see Command).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { createLogger, installSdkLogging, sdkMetricsUrl } from '../src/logger';
import type * as TracingModule from '../src/tracing';
import { freePort } from '../test/helpers/ports';
import { startService } from '../src/service';
import { openStoreDb } from '../src/store';
import type { Db, Queryable } from '../src/store/db';
import { connectClient } from '../src/temporal/connection';
import { createCeilingActivities } from './ceiling/activities';
import { DEFAULT_AUTO_DISABLE } from '../core/subscription-health';
import { testKeyRing } from '../test/helpers/key-ring';
import { ceilingWorkflow } from './ceiling/workflows';
import { closedLoop, openLoop, Waiters } from './load';
import type {
  CeilingClosedResult,
  CeilingOpenResult,
  Command,
  Reply,
  Request,
  ServiceConfig,
  ServiceReady,
  ServiceStats,
} from './protocol';

/** A unit of the ceiling that takes longer than this counts as missing. */
const UNIT_TIMEOUT_MS = 30_000;

function send(message: unknown): void {
  process.send?.(message);
}

/** Calls and time per statement (its first 60 characters), for the `store-stats` command. */
type StoreStats = Map<string, { calls: number; ms: number }>;

/** The store's database with every statement counted and timed; transactions count as one. */
function countQueries(db: Db, stats: StoreStats): Db {
  const count = <T>(sql: string, run: () => Promise<T>): Promise<T> => {
    const key = sql.replace(/\s+/g, ' ').trim().slice(0, 60);
    const t = performance.now();
    return run().finally(() => {
      const entry = stats.get(key) ?? { calls: 0, ms: 0 };
      entry.calls += 1;
      entry.ms += performance.now() - t;
      stats.set(key, entry);
    });
  };
  const wrap = (target: Queryable): Queryable => ({
    query: (sql, params) => count(sql, () => target.query(sql, params)),
    exec: (sql) => count(sql, () => target.exec(sql)),
  });
  return {
    ...wrap(db),
    transaction: (fn) => count('(transaction)', () => db.transaction((tx) => fn(wrap(tx)))),
    close: () => db.close(),
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_SERVICE_CONFIG ?? '') as ServiceConfig;
  const timings: Record<string, number> = {};
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const value = await fn();
    timings[name] = Math.round(performance.now() - t);
    return value;
  };

  const logger = createLogger(config.logLevel, pino.destination({ dest: config.logFile, sync: false, mkdir: true }));
  // The SDK's own lines (e.g. an activity that timed out under load) go to the log file, as in
  // production; with `observability: 'metrics'`, its worker metrics too, as `npm start`.
  const sdkMetricsPort = config.observability === 'metrics' ? await freePort() : undefined;
  installSdkLogging(logger, sdkMetricsPort !== undefined ? { metricsPort: sdkMetricsPort } : {});
  const tracing =
    config.observability === 'tracing' && config.tracingEndpoint
      ? // Required only then: the OpenTelemetry SDK would add ~20 MB to every other run's service.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        (require('../src/tracing') as typeof TracingModule).startTracing({
          endpoint: config.tracingEndpoint,
          protocol: 'http/protobuf',
          headers: {},
          timeoutMs: 10_000,
          serviceName: 'webhook-delivery-bench',
          resourceAttributes: {},
          sampler: { name: 'parentbased_always_on', ratio: 1 },
        })
      : undefined;
  /** Closed before the worker stops (the service) and after it (the store). */
  const before: Array<() => Promise<unknown>> = [];
  const after: Array<() => Promise<unknown>> = [];
  let apiUrl: string | undefined;
  const storeStats: StoreStats = new Map();

  // The ceiling's own worker and client; the service role connects through startService.
  let connection: NativeConnection | undefined;
  let client: Client | undefined;
  let worker: Worker | undefined;
  const touched = new Waiters();
  if (config.role === 'service') {
    const db = await phase('storeOpenMs', () =>
      openStoreDb({ databaseUrl: config.databaseUrl, pgliteDir: config.storeDir }),
    );
    after.push(() => db.close());
    // The same composition as `npm start` (or `npm run api` / `npm run worker` in split mode).
    const service = await phase('serviceStartMs', () =>
      startService({
        role: config.parts ?? 'all',
        settings: {
          port: 0,
          allowInsecureTargets: true,
          allowedTargetCidrs: [],
          allowedTargetPorts: [],
          attemptTimeoutMs: config.attemptTimeoutMs,
          deliveryMode: config.deliveryMode ?? 'per-delivery',
          ...(config.fairness !== undefined ? { fairness: config.fairness } : {}),
          autoDisable: DEFAULT_AUTO_DISABLE,
          maxBodyBytes: 1024 * 1024,
          temporal: {
            namespace: config.namespace,
            taskQueue: config.taskQueue,
            uiUrl: 'http://127.0.0.1:8233',
            workflowBundlePath: config.workflowBundlePath,
          },
        },
        logger,
        temporalAddress: config.temporalAddress,
        db: countQueries(db, storeStats),
        keyRing: testKeyRing(),
        apiKeys: [config.apiKey],
        host: '127.0.0.1',
        workerTuning: { ...config.tuning },
        eagerStart: config.eagerStart,
        ...(config.startConcurrency !== undefined ? { startConcurrency: config.startConcurrency } : {}),
        ...(config.observability === 'off' || config.observability === 'tracing' ? { metrics: false } : {}),
        ...(sdkMetricsPort !== undefined ? { sdkMetricsUrl: sdkMetricsUrl(sdkMetricsPort) } : {}),
        ...(tracing ? { tracing } : {}),
      }),
    );
    before.push(() => service.close());
    if (tracing) after.push(() => tracing.shutdown());
    apiUrl = service.api?.url;
  } else {
    connection = await NativeConnection.connect({ address: config.temporalAddress });
    client = config.eagerStart
      ? new Client({ connection, namespace: config.namespace })
      : await connectClient(config.temporalAddress, config.namespace);
    const workerConnection = connection;
    worker = await phase('workerCreateMs', () =>
      Worker.create({
        connection: workerConnection,
        namespace: config.namespace,
        taskQueue: config.taskQueue,
        workflowsPath: require.resolve('./ceiling/workflows'),
        activities: createCeilingActivities((key) => touched.arrive(key, performance.now())),
        ...config.tuning,
      }),
    );
  }
  const workerRun = worker?.run();

  let ceilingRuns = 0;
  let profiler: Session | undefined;
  const startCeiling = async (key: string): Promise<void> => {
    if (!client) throw new Error('the ceiling runs in the ceiling role only');
    await client.workflow.start(ceilingWorkflow, {
      workflowId: key,
      taskQueue: config.taskQueue,
      args: [key],
      ...(config.eagerStart ? { requestEagerStart: true } : {}),
    });
  };
  const ceilingUnit = (run: number) => async (n: number) => {
    const key = `ceiling-${run}-${n}`;
    const done = touched.waitFor(key, UNIT_TIMEOUT_MS);
    await startCeiling(key);
    return done;
  };

  const handlers: Record<Command['type'], (command: never) => Promise<unknown>> = {
    stats: async (): Promise<ServiceStats> => {
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      return {
        at: performance.timeOrigin + performance.now(),
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
      };
    },
    'ceiling-closed': async (command: Extract<Command, { type: 'ceiling-closed' }>): Promise<CeilingClosedResult> => {
      const result = await closedLoop({
        concurrency: command.concurrency,
        durationMs: command.durationMs,
        unit: ceilingUnit(++ceilingRuns),
      });
      return { completions: result.completions, latencies: result.latencies, errors: result.errors + result.missing };
    },
    'ceiling-open': async (command: Extract<Command, { type: 'ceiling-open' }>): Promise<CeilingOpenResult> => {
      const result = await openLoop({
        rate: command.rate,
        durationMs: command.durationMs,
        unit: ceilingUnit(++ceilingRuns),
      });
      return { latencies: result.latencies, missing: result.missing, errors: result.errors };
    },
    'store-stats': async () => {
      const result = Object.fromEntries(
        [...storeStats].map(([sql, entry]) => [sql, { calls: entry.calls, ms: Math.round(entry.ms) }]),
      );
      storeStats.clear();
      return result;
    },
    // A CPU profile of this process, for bench/profile-summary.ts.
    'profile-start': async () => {
      profiler ??= new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
      await profiler.post('Profiler.start');
      return null;
    },
    'profile-stop': async (command: Extract<Command, { type: 'profile-stop' }>) => {
      if (!profiler) return null;
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(command.file, JSON.stringify(profile));
      profiler.disconnect();
      profiler = undefined;
      return null;
    },
    stop: async () => {
      for (const close of before) await close();
      worker?.shutdown();
      await workerRun?.catch(() => undefined);
      for (const close of after) await close();
      if (client && client.connection !== (connection as unknown)) await client.connection.close();
      await connection?.close();
      setImmediate(() => process.exit(0));
      return null;
    },
  };

  process.on('message', (message: Request) => {
    const handler = handlers[message.command.type] as (command: Command) => Promise<unknown>;
    handler(message.command).then(
      (result) => send({ id: message.id, ok: true, result } satisfies Reply),
      (error: unknown) =>
        send({
          id: message.id,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        } satisfies Reply),
    );
  });
  send({ type: 'ready', timings, ...(apiUrl ? { apiUrl } : {}) } satisfies ServiceReady);
}

// Never outlive the benchmark.
process.on('disconnect', () => process.exit(1));
main().catch((error: unknown) => {
  process.stderr.write(`bench service failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
