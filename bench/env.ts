/**
 * Everything a benchmark run needs, started by the run itself: the Temporal dev server (found by
 * the project's own finder, on free ports, with a database file in a temporary folder), the
 * service process (API + worker), the loopback receiver and an HTTP client for the API.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { Agent, request } from 'undici';
import type { DeliveryMode } from '../core/model';
import { loadConfig } from '../src/config';
import { DEFAULT_TOOLS_DIR, findTemporalCli } from '../devtools/temporal-cli';
import { devServerSearchAttributes, startDevServer, type DevServer } from '../devtools/temporal-dev-server';
import { SEARCH_ATTRIBUTE_KEYS } from '../core/search-attributes';
import { freePort } from '../test/helpers/ports';
import { startPostgres } from '../test/helpers/postgres';
import type { ServiceConfig, WorkerTuning } from './protocol';
import { BenchReceiver } from './receiver';
import { postgresPids, type WatchedProcess } from './memory';
import { findChildPid, Sampler } from './sampler';
import { ServiceProcess } from './service-client';

export interface EnvOptions {
  /** SQLite pragmas of the dev server; undefined keeps the launcher's default (WAL, synchronous=normal). */
  readonly sqlitePragmas?: Record<string, string>;
  /** Dynamic config of the dev server; undefined keeps the launcher's default (eager activity dispatch on). */
  readonly dynamicConfig?: Record<string, string | number | boolean>;
  readonly tuning: WorkerTuning;
  readonly eagerStart: boolean;
  /** A prebuilt workflow bundle for the service, awaited just before the service starts. */
  readonly workflowBundlePath?: Promise<string>;
  readonly startConcurrency?: number;
  /** Where the service writes its log. */
  readonly logFile: string;
  /** Where the Temporal dev server's warnings and errors go. */
  readonly temporalLogFile: string;
  /**
   * Split mode: the API and the worker in two processes over PostgreSQL (started here, from
   * the binaries scripts/install-postgres.sh installs), as `npm run api` and `npm run worker`
   * run in production. Default: one process over PGlite, as `npm start`.
   */
  readonly split?: boolean;
  /** WEBHOOKS_DELIVERY_MODE of the service. @default 'per-delivery' */
  readonly deliveryMode?: DeliveryMode;
  /** WEBHOOKS_FAIRNESS of the service. @default true */
  readonly fairness?: boolean;
  /** Connections from the benchmark to the API. */
  readonly apiConnections: number;
  /**
   * Start the Temporal ceiling's process (a bare worker and client), which scenarios 2 and 4 and
   * the warm-up drive. @default true
   */
  readonly ceiling?: boolean;
  readonly log: (line: string) => void;
  /** What the service observes (see ServiceConfig.observability). @default its defaults */
  readonly observability?: Pick<ServiceConfig, 'observability' | 'tracingEndpoint'>;
}

/** Lines the Temporal dev server logged (at warn and above: it runs with --log-level warn). */
export interface TemporalLogCounts {
  /** Lines at level WARN. */
  readonly warn: number;
  /** Lines at level ERROR (or FATAL, PANIC). */
  readonly error: number;
  /** Lines at no level the pattern knows (e.g. a Go panic's stack). */
  readonly other: number;
  /** Lines mentioning "context deadline exceeded", whatever their level. */
  readonly deadlineExceeded: number;
  /** Lines mentioning "Slow gRPC call". */
  readonly slowGrpc: number;
}

/** The counts of `after` minus those of `before`: what was logged in between. */
export function temporalLogSince(before: TemporalLogCounts, after: TemporalLogCounts): TemporalLogCounts {
  return {
    warn: after.warn - before.warn,
    error: after.error - before.error,
    other: after.other - before.other,
    deadlineExceeded: after.deadlineExceeded - before.deadlineExceeded,
    slowGrpc: after.slowGrpc - before.slowGrpc,
  };
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: any;
}

export interface BenchEnv {
  readonly temporalAddress: string;
  /** The service under test: API + worker, as `npm start` runs them (split mode: the worker). */
  readonly service: ServiceProcess;
  /** Split mode: the API process. */
  readonly apiProcess?: ServiceProcess;
  /** A bare Temporal worker and client for the ceiling; undefined when the run does not need it. */
  readonly ceiling: ServiceProcess | undefined;
  readonly receiver: BenchReceiver;
  /** A Temporal client of the benchmark's own, to read workflow histories. */
  readonly client: Client;
  /** Samples the service process (and the Temporal server, and the machine). */
  readonly sampler: Sampler;
  /** Samples the ceiling process instead of the service. */
  readonly ceilingSampler: Sampler | undefined;
  /** Start-up phases, ms. */
  readonly timings: Record<string, number>;
  /** The service's log files: the one process's (split mode: the worker's), and the API process's. */
  readonly logFiles: { readonly service: string; readonly api?: string };
  /** Every process of the run, for memory sampling (see memory.ts), by name. */
  readonly processes: readonly WatchedProcess[];
  /** The processes a deployment runs (the service, Temporal, PostgreSQL): not the ceiling or the benchmark. */
  readonly systemProcessNames: readonly string[];
  /** Error lines the Temporal server has logged so far. */
  temporalErrors(): number;
  /** Lines the Temporal server has logged so far, by level and by the messages that mean trouble. */
  temporalLog(): TemporalLogCounts;
  api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiAnswer>;
  close(): Promise<void>;
}

/** Longest the store's creation may take (PGlite's initdb takes a few seconds). */
const CREATE_STORE_TIMEOUT_MS = 120_000;

/** Runs create-store.ts in a child process (with this process's TypeScript loader) and waits for it. */
function createStore(target: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = fork(path.join(__dirname, 'create-store.ts'), [target], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), CREATE_STORE_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`creating the store failed (${signal ?? `exit code ${code}`})`));
    });
  });
}

export async function startEnv(options: EnvOptions): Promise<BenchEnv> {
  const timings: Record<string, number> = {};
  const closers: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
  };
  try {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'webhooks-bench-'));
    closers.push(() => rm(tmp, { recursive: true, force: true }));

    const temporalLog = createWriteStream(options.temporalLogFile);
    closers.push(() => new Promise<void>((resolve) => temporalLog.end(resolve)));
    const serverLog = { warn: 0, error: 0, other: 0, deadlineExceeded: 0, slowGrpc: 0 };
    const countLine = (line: string): void => {
      if (/\blevel=(ERROR|FATAL|PANIC|DPANIC)\b/i.test(line)) serverLog.error += 1;
      else if (/\blevel=WARN(ING)?\b/i.test(line)) serverLog.warn += 1;
      else serverLog.other += 1;
      if (/context deadline exceeded/i.test(line)) serverLog.deadlineExceeded += 1;
      if (/Slow gRPC call/i.test(line)) serverLog.slowGrpc += 1;
    };
    const cliPath = await findTemporalCli({
      explicitPath: loadConfig().temporal.cliPath,
      toolsDir: DEFAULT_TOOLS_DIR,
      log: options.log,
    });
    let t = performance.now();
    const devServer: DevServer = await startDevServer({
      cliPath,
      dbFile: path.join(tmp, 'temporal.db'),
      port: await freePort(),
      uiPort: await freePort(),
      headless: true,
      namespace: 'default',
      searchAttributes: devServerSearchAttributes(SEARCH_ATTRIBUTE_KEYS),
      ...(options.sqlitePragmas ? { sqlitePragmas: options.sqlitePragmas } : {}),
      ...(options.dynamicConfig ? { dynamicConfig: options.dynamicConfig } : {}),
      // The server's own warnings go to its log file; the run reports how many there were.
      logger: {
        info: () => undefined,
        warn: (_obj, msg) => {
          countLine(msg);
          temporalLog.write(`${msg}\n`);
        },
        error: (_obj, msg) => {
          countLine(msg);
          temporalLog.write(`${msg}\n`);
        },
      },
    });
    closers.push(() => devServer.stop());
    timings.devServerStartMs = Math.round(performance.now() - t);

    const receiver = await BenchReceiver.start();
    closers.push(() => receiver.close());

    const apiKey = `bench-${randomUUID()}`;
    const base = {
      temporalAddress: devServer.address,
      namespace: 'default',
      tuning: options.tuning,
      eagerStart: options.eagerStart,
      logLevel: 'info',
      attemptTimeoutMs: 15_000,
      deliveryMode: options.deliveryMode ?? 'per-delivery',
      ...(options.fairness !== undefined ? { fairness: options.fairness } : {}),
      apiKey,
    };
    const ceilingConfig: ServiceConfig = {
      ...base,
      role: 'ceiling',
      taskQueue: 'bench-ceiling',
      storeDir: '',
      logFile: options.logFile.replace(/service\.log$/, 'ceiling.log'),
    };
    // The ceiling's process starts while the store is created and the service starts: each of
    // them is mostly one thread's work, and this machine has two cores.
    const ceilingT0 = performance.now();
    const ceilingStarting = options.ceiling === false ? undefined : ServiceProcess.start(ceilingConfig);
    if (ceilingStarting) {
      ceilingStarting
        .then(() => (timings.ceilingStartMs = Math.round(performance.now() - ceilingT0)))
        .catch(() => undefined);
      closers.push(async () => (await ceilingStarting).stop());
    }

    // The store is created (initdb, migrations) before the service starts, as after a first
    // `npm start`: PGlite's one-off initdb would otherwise leave ~400 MB in the service's RSS. It
    // runs in a child process of its own, so that it stays out of the benchmark's memory too.
    t = performance.now();
    const storeDir = path.join(tmp, 'store');
    let databaseUrl: string | undefined;
    let postgresPort: number | undefined;
    if (options.split) {
      const postgres = await startPostgres();
      closers.push(() => postgres.stop());
      databaseUrl = postgres.url;
      postgresPort = Number(new URL(postgres.url).port);
    }
    await createStore(databaseUrl ?? storeDir);
    timings.storeCreateMs = Math.round(performance.now() - t);

    const serviceConfig: ServiceConfig = {
      ...base,
      role: 'service',
      taskQueue: 'bench-deliveries',
      storeDir,
      ...(databaseUrl ? { databaseUrl, parts: 'worker' as const } : {}),
      logFile: options.logFile,
      ...(options.workflowBundlePath ? { workflowBundlePath: await options.workflowBundlePath } : {}),
      ...(options.startConcurrency !== undefined ? { startConcurrency: options.startConcurrency } : {}),
      ...options.observability,
    };
    t = performance.now();
    const service = await ServiceProcess.start(serviceConfig);
    closers.push(() => service.stop());
    timings.serviceStartMs = Math.round(performance.now() - t);
    for (const [name, value] of Object.entries(service.ready.timings)) timings[`service.${name}`] = value;
    let apiProcess: ServiceProcess | undefined;
    if (databaseUrl) {
      apiProcess = await ServiceProcess.start({
        ...serviceConfig,
        parts: 'api',
        logFile: options.logFile.replace(/service\.log$/, 'api.log'),
      });
      const started = apiProcess;
      closers.push(() => started.stop());
    }
    const apiUrl = (apiProcess ?? service).ready.apiUrl ?? '';
    const ceiling = await ceilingStarting;

    const connection = await Connection.connect({ address: devServer.address });
    closers.push(() => connection.close());
    const client = new Client({ connection, namespace: 'default' });

    const agent = new Agent({ connections: options.apiConnections, keepAliveTimeout: 30_000 });
    closers.push(() => agent.close());
    const api = async (method: 'GET' | 'POST', apiPath: string, body?: unknown): Promise<ApiAnswer> => {
      const response = await request(`${apiUrl}${apiPath}`, {
        method,
        dispatcher: agent,
        headers: {
          authorization: `Bearer ${apiKey}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      const text = await response.body.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: response.statusCode, body: parsed };
    };

    const temporalPid = findChildPid('temporal');
    const sampler = new Sampler(
      () => service.request({ type: 'stats' }),
      temporalPid,
      apiProcess && (() => (apiProcess as ServiceProcess).request({ type: 'stats' })),
    );
    const ceilingSampler = ceiling && new Sampler(() => ceiling.request({ type: 'stats' }), temporalPid);
    const processes: WatchedProcess[] = [
      { name: apiProcess ? 'worker' : 'service', pids: () => [service.pid] },
      ...(apiProcess ? [{ name: 'API', pids: () => [(apiProcess as ServiceProcess).pid] }] : []),
      ...(postgresPort !== undefined ? [{ name: 'PostgreSQL', pids: postgresPids(postgresPort) }] : []),
      { name: 'Temporal', pids: () => (temporalPid === undefined ? [] : [temporalPid]) },
      ...(ceiling ? [{ name: 'ceiling', pids: () => [ceiling.pid] }] : []),
      { name: 'benchmark', pids: () => [process.pid] },
    ];
    return {
      temporalAddress: devServer.address,
      service,
      ...(apiProcess ? { apiProcess } : {}),
      ceiling,
      receiver,
      client,
      sampler,
      ceilingSampler,
      timings,
      logFiles: {
        service: options.logFile,
        ...(apiProcess ? { api: options.logFile.replace(/service\.log$/, 'api.log') } : {}),
      },
      processes,
      systemProcessNames: processes.map((p) => p.name).filter((name) => name !== 'ceiling' && name !== 'benchmark'),
      temporalErrors: () => serverLog.error,
      temporalLog: () => ({ ...serverLog }),
      api,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
