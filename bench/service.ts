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
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pino from 'pino';
import { startApiServer, type ApiServer } from '../src/api/server';
import { createLogger } from '../src/logger';
import { connectClient } from '../src/temporal/connection';
import { createStore } from '../src/store';
import type { Db, Queryable } from '../src/store/db';
import { openDb } from '../src/store/db';
import { migrate } from '../src/store/migrations';
import { createDeliveryWorker } from '../src/worker';
import { createCeilingActivities } from './ceiling/activities';
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
  // The SDK's own warnings (e.g. an activity that timed out under load) go to the log file.
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => logger.warn({ source: 'temporal-sdk', ...entry.meta }, entry.message)),
  });
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  // As main.ts: the API's client of its own; with eager start, deliveries start through a client
  // on the worker's connection (the ceiling's starts too).
  const apiClient = await connectClient(config.temporalAddress, config.namespace);
  const clientConnection = apiClient.connection;
  const eagerClient = config.eagerStart ? new Client({ connection, namespace: config.namespace }) : undefined;
  const client = eagerClient ?? apiClient;
  /** Closed before the worker stops (the API) and after it (the store). */
  const before: Array<() => Promise<unknown>> = [];
  const after: Array<() => Promise<unknown>> = [];
  let apiUrl: string | undefined;
  const storeStats: StoreStats = new Map();

  let worker: Worker | undefined;
  const touched = new Waiters();
  if (config.role === 'service') {
    const parts = config.parts ?? 'all';
    const db = await phase('storeOpenMs', async () => {
      const opened = await openDb({ databaseUrl: config.databaseUrl, pgliteDir: config.storeDir });
      await migrate(opened);
      return opened;
    });
    after.push(() => db.close());
    const store = createStore(countQueries(db, storeStats));
    if (parts !== 'api') {
      worker = await phase('workerCreateMs', () =>
        createDeliveryWorker({
          connection,
          namespace: config.namespace,
          taskQueue: config.taskQueue,
          store,
          logger,
          targets: { allowInsecure: true },
          ...(config.workflowBundlePath ? { workflowBundle: { codePath: config.workflowBundlePath } } : {}),
          tuning: { ...config.tuning },
        }),
      );
    }
    if (parts !== 'worker') {
      const api: ApiServer = await phase('apiStartMs', () =>
        startApiServer({
          client: apiClient,
          store,
          logger,
          port: 0,
          host: '127.0.0.1',
          apiKeys: [config.apiKey],
          taskQueue: config.taskQueue,
          attemptTimeoutMs: config.attemptTimeoutMs,
          maxBodyBytes: 1024 * 1024,
          temporalUiUrl: 'http://127.0.0.1:8233',
          targets: { allowInsecure: true },
          dispatch: {
            ...(eagerClient ? { client: eagerClient, eagerStart: true } : {}),
            ...(config.startConcurrency !== undefined ? { startConcurrency: config.startConcurrency } : {}),
          },
        }),
      );
      before.push(() => api.close());
      apiUrl = api.url;
    }
  } else {
    worker = await phase('workerCreateMs', () =>
      Worker.create({
        connection,
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
      await clientConnection?.close();
      await connection.close();
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
