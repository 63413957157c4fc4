/**
 * Entry point. `npm start` runs everything in one process with embedded defaults (a Temporal dev
 * server and a PGlite store under DATA_DIR); `npm run api` and `npm run worker` run the two halves
 * separately against TEMPORAL_ADDRESS and DATABASE_URL. In `worker` mode, WORKER_HEALTH_PORT adds a
 * `GET /healthz` for container health checks and METRICS_PORT a `GET /metrics` for Prometheus (the
 * API has both on its own port).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { SEARCH_ATTRIBUTE_KEYS } from '../core/search-attributes';
import { DEFAULT_TOOLS_DIR, findTemporalCli } from '../devtools/temporal-cli';
import { devServerSearchAttributes, startDevServer } from '../devtools/temporal-dev-server';
import { ConfigError, loadConfig, type Config } from './config';
import { createLogger, installSdkLogging, sdkMetricsUrl } from './logger';
import { startService, type Service, type ServiceRole } from './service';
import { openStoreDb, storeIsReachable } from './store';
import { KeyRing, KeyRingError } from './store/secret-box';
import { connectClient, registerSearchAttributes, temporalIsReachable } from './temporal/connection';
import { ensureRetentionSchedule, RETENTION_SCHEDULE_ID } from './temporal/retention-schedule';
import type * as TracingModule from './tracing';
import type { Tracing } from './tracing';

function parseMode(arg: string | undefined): ServiceRole {
  if (arg === undefined || arg === 'all') return 'all';
  if (arg === 'api' || arg === 'worker') return arg;
  throw new ConfigError(`unknown mode '${arg}': use all, api or worker`);
}

/** The embedded mode's API key: generated once into DATA_DIR, printed when generated, reused after. */
function embeddedApiKey(dataDir: string): string {
  const file = path.join(dataDir, 'api-key');
  if (existsSync(file)) {
    process.stdout.write(`API key: reusing the one in ${file}\n`);
    return readFileSync(file, 'utf8').trim();
  }
  const key = `whk_${randomBytes(24).toString('base64url')}`;
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  process.stdout.write(`\nGenerated an API key (kept in ${file}):\n\n  ${key}\n\n`);
  return key;
}

/**
 * The embedded store's key ring when WEBHOOKS_ENCRYPTION_KEYS is unset: generated once into
 * DATA_DIR (never printed), reused after. A store on DATABASE_URL is shared, so its processes
 * must be given the same ring: none is generated for it.
 */
function embeddedKeyRing(dataDir: string, logger: Logger): KeyRing {
  const file = path.join(dataDir, 'encryption-keys');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `${KeyRing.generateKey('local1')}\n`, { mode: 0o600, flag: 'wx' });
    logger.info({ file }, 'generated the key ring that seals stored secrets');
  }
  try {
    return KeyRing.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    if (!(error instanceof KeyRingError)) throw error;
    throw new ConfigError(`${file} (the generated WEBHOOKS_ENCRYPTION_KEYS): ${error.message}`);
  }
}

/** The key ring sealing stored secrets: WEBHOOKS_ENCRYPTION_KEYS, else the embedded store's own. */
function keyRingOf(config: Config, logger: Logger): KeyRing {
  if (config.encryptionKeys) return config.encryptionKeys;
  if (config.databaseUrl === undefined) return embeddedKeyRing(config.dataDir, logger);
  throw new ConfigError(
    'WEBHOOKS_ENCRYPTION_KEYS is unset: a store on DATABASE_URL needs the key ring every process seals secrets with (<key id>:<base64 of 32 bytes>, e.g. k1:$(openssl rand -base64 32))',
  );
}

/** Closers run in reverse order of opening. */
type Closer = () => Promise<void>;

async function startEmbeddedTemporal(config: Config, logger: Logger, closers: Closer[]): Promise<string> {
  const cliPath = await findTemporalCli({
    explicitPath: config.temporal.cliPath,
    toolsDir: DEFAULT_TOOLS_DIR,
    log: (msg) => logger.info(msg),
  });
  const devServer = await startDevServer({
    cliPath,
    dbFile: path.join(config.dataDir, 'temporal.db'),
    port: config.temporal.devPort,
    uiPort: config.temporal.devUiPort,
    namespace: config.temporal.namespace,
    // Closed workflows are kept as long as the store keeps their deliveries (Temporal: a day at least).
    namespaceRetentionMs: config.retentionMs,
    searchAttributes: devServerSearchAttributes(SEARCH_ATTRIBUTE_KEYS),
    logger,
  });
  closers.push(() => devServer.stop());
  logger.info({ ui: devServer.uiUrl }, 'Temporal dev server started');
  return devServer.address;
}

/** Where a worker process is in its life, as its health endpoint reports it. */
type WorkerState = 'starting' | 'running' | 'stopping' | 'stopped';

type EndpointHandler = (res: ServerResponse) => void;

/**
 * `GET /healthz` of a worker process: 200 `{status: 'ok', worker: 'running', checks}` while the
 * worker runs and Temporal and the store answer, else 503 (also while it starts, and while it
 * drains attempts in flight after SIGTERM).
 */
function workerHealth(current: () => { state: WorkerState; service: Service | undefined }): EndpointHandler {
  return (res) => {
    const { state, service } = current();
    const probe =
      state === 'running' && service
        ? Promise.all([temporalIsReachable(service.client), storeIsReachable(service.store.db)])
        : Promise.resolve([false, false]);
    void probe.then(([temporal, store]) => {
      const healthy = state === 'running' && temporal && store;
      res
        .writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: healthy ? 'ok' : 'unavailable', worker: state, checks: { temporal, store } }));
    });
  };
}

/** `GET /metrics` of a worker process: its metrics in Prometheus's text format; 503 until the worker is up. */
function workerMetrics(current: () => Service | undefined): EndpointHandler {
  return (res) => {
    const metrics = current()?.metrics;
    if (!metrics) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('starting\n');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  };
}

/**
 * A worker process's own HTTP endpoints (a worker serves no API): `GET <path>` for each path
 * given, 404 for anything else. Returns its closer.
 */
async function serveWorkerEndpoints(
  port: number,
  endpoints: Readonly<Record<string, EndpointHandler>>,
  logger: Logger,
): Promise<Closer> {
  const server = createServer((req, res) => {
    const path = req.url?.split('?')[0] ?? '';
    const handle = req.method === 'GET' && Object.hasOwn(endpoints, path) ? endpoints[path] : undefined;
    if (!handle) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found"}}');
      return;
    }
    handle(res);
  });
  server.listen(port);
  await once(server, 'listening');
  const address = server.address();
  logger.info(
    { port: typeof address === 'object' && address ? address.port : port, paths: Object.keys(endpoints) },
    'worker endpoints listening',
  );
  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** src/tracing.ts, required only when tracing is on: the OpenTelemetry SDK and exporters take ~20 MB. */
function loadTracing(): typeof TracingModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand, in a CommonJS build
  return require('./tracing') as typeof TracingModule;
}

/** A port free on loopback now, for the SDK's metrics exporter (which takes an address, not port 0). */
async function freeLoopbackPort(): Promise<number> {
  const server = createNetServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function run(
  mode: ServiceRole,
  config: Config,
  logger: Logger,
  closers: Closer[],
  telemetry: { sdkMetricsPort: number | undefined; tracing: Tracing | undefined },
): Promise<Service> {
  const { sdkMetricsPort, tracing } = telemetry;
  if (mode !== 'all' && (!config.temporal.address || !config.databaseUrl)) {
    throw new ConfigError(`'${mode}' mode runs against shared servers: set TEMPORAL_ADDRESS and DATABASE_URL`);
  }
  if (config.allowInsecureTargets) {
    logger.warn(
      'WEBHOOKS_ALLOW_INSECURE_TARGETS=true: http:// and private-network targets are allowed. Never use this in production.',
    );
  }
  const keyRing = keyRingOf(config, logger);
  const temporalAddress = config.temporal.address ?? (await startEmbeddedTemporal(config, logger, closers));

  const db = await openStoreDb(
    { databaseUrl: config.databaseUrl, pgliteDir: path.join(config.dataDir, 'store') },
    logger,
  );
  closers.push(() => db.close());

  const client = await connectClient(temporalAddress, config.temporal.namespace);
  try {
    const registered = await registerSearchAttributes(client);
    if (registered.length > 0) logger.info({ registered }, 'search attributes registered');
    // Workers run the retention workflow, so they keep its schedule; an API alone does not.
    if (mode !== 'api') {
      const retention = { taskQueue: config.temporal.taskQueue, retentionMs: config.retentionMs };
      const change = await ensureRetentionSchedule(client, retention);
      if (change !== 'unchanged')
        logger.info({ schedule: RETENTION_SCHEDULE_ID, ...retention }, `retention schedule ${change}`);
    }
  } finally {
    await client.connection.close();
  }

  let apiKeys: readonly string[] = [];
  if (mode !== 'worker') {
    apiKeys = config.apiKeys.length > 0 ? config.apiKeys : mode === 'all' ? [embeddedApiKey(config.dataDir)] : [];
    if (apiKeys.length === 0) throw new ConfigError('WEBHOOKS_API_KEYS is empty: the API would refuse every request');
  }
  const service = await startService({
    role: mode,
    settings: config,
    logger,
    temporalAddress,
    db,
    keyRing,
    apiKeys,
    ...(sdkMetricsPort !== undefined ? { sdkMetricsUrl: sdkMetricsUrl(sdkMetricsPort) } : {}),
    ...(tracing ? { tracing } : {}),
  });
  closers.push(service.close);
  return service;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const closers: Closer[] = [];
  let workerState: WorkerState = 'starting';
  let service: Service | undefined;
  /** The worker's endpoints close last, so its health reports 'stopping' while attempts drain. */
  let closeEndpoints: Closer | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      logger.info({ reason }, 'shutting down');
      if (workerState !== 'stopped') workerState = 'stopping';
      for (const close of closers.reverse()) {
        await close().catch((error: unknown) => logger.warn({ err: error }, 'error while shutting down'));
      }
      await closeEndpoints?.().catch((error: unknown) => logger.warn({ err: error }, 'error while shutting down'));
    })());
  process.once('SIGINT', () => void stop('SIGINT').then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop('SIGTERM').then(() => process.exit(0)));
  try {
    const mode = parseMode(process.argv[2]);
    // The SDK's worker metrics: served by its core on a loopback port of their own, and appended
    // to this process's /metrics (the API's, or METRICS_PORT's in worker mode).
    const sdkMetricsPort =
      mode === 'all' || (mode === 'worker' && config.metricsPort !== undefined) ? await freeLoopbackPort() : undefined;
    installSdkLogging(logger, sdkMetricsPort !== undefined ? { metricsPort: sdkMetricsPort } : {});
    // Tracing, when the OTEL_* variables name a collector: loaded only then (the SDK costs memory).
    const tracing = config.tracing ? loadTracing().startTracing(config.tracing) : undefined;
    if (tracing && config.tracing) {
      // Last to close: spans of the shutdown itself are exported too.
      closers.unshift(() => tracing.shutdown());
      logger.info({ endpoint: config.tracing.endpoint, protocol: config.tracing.protocol }, 'tracing to OTLP');
    }
    if (mode === 'worker') {
      // WORKER_HEALTH_PORT and METRICS_PORT: one server per port, both paths when they are the same.
      const byPort = new Map<number, Record<string, EndpointHandler>>();
      const add = (port: number | undefined, path: string, handler: EndpointHandler): void => {
        if (port !== undefined) byPort.set(port, { ...byPort.get(port), [path]: handler });
      };
      add(
        config.workerHealthPort,
        '/healthz',
        workerHealth(() => ({ state: workerState, service })),
      );
      add(
        config.metricsPort,
        '/metrics',
        workerMetrics(() => service),
      );
      const servers = await Promise.all(
        [...byPort].map(([port, endpoints]) => serveWorkerEndpoints(port, endpoints, logger)),
      );
      if (servers.length > 0) closeEndpoints = async () => void (await Promise.all(servers.map((close) => close())));
    }
    service = await run(mode, config, logger, closers, { sdkMetricsPort, tracing });
    workerState = 'running';
    // A worker that stops on its own (e.g. a fatal error) takes the process down with it.
    await service.workerRun?.then(
      () => {
        workerState = 'stopped';
        return stop('worker stopped');
      },
      async (error: unknown) => {
        workerState = 'stopped';
        logger.error({ err: error }, 'worker failed');
        await stop('worker failed');
        process.exitCode = 1;
      },
    );
  } catch (error) {
    logger.error({ err: error }, error instanceof Error ? error.message : 'start-up failed');
    await stop('start-up failed');
    process.exit(1);
  }
}

void main();
