/**
 * Entry point. `npm start` runs everything in one process with embedded defaults (a Temporal dev
 * server and a PGlite store under DATA_DIR); `npm run api` and `npm run worker` run the two halves
 * separately against TEMPORAL_ADDRESS and DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Logger } from 'pino';
import { startApiServer } from './api/server';
import { ConfigError, loadConfig, type Config } from './config';
import { createLogger } from './logger';
import { createStore } from './store';
import { openDb } from './store/db';
import { migrate } from './store/migrations';
import { DEFAULT_TOOLS_DIR, findTemporalCli } from '../devtools/temporal-cli';
import { connectClient, registerSearchAttributes } from './temporal/connection';
import { startDevServer } from '../devtools/temporal-dev-server';
import { SEARCH_ATTRIBUTE_KEYS } from '../core/search-attributes';
import { createDeliveryWorker } from './worker';

type Mode = 'all' | 'api' | 'worker';

function parseMode(arg: string | undefined): Mode {
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
    searchAttributes: Object.fromEntries(SEARCH_ATTRIBUTE_KEYS.map((key) => [key.name, 'Keyword' as const])),
    logger,
  });
  closers.push(() => devServer.stop());
  logger.info({ ui: devServer.uiUrl }, 'Temporal dev server started');
  return devServer.address;
}

async function run(
  mode: Mode,
  config: Config,
  logger: Logger,
  closers: Closer[],
): Promise<{ workerRun?: Promise<void> }> {
  if (mode !== 'all' && (!config.temporal.address || !config.databaseUrl)) {
    throw new ConfigError(`'${mode}' mode runs against shared servers: set TEMPORAL_ADDRESS and DATABASE_URL`);
  }
  if (config.allowInsecureTargets) {
    logger.warn(
      'WEBHOOKS_ALLOW_INSECURE_TARGETS=true: http:// and private-network targets are allowed. Never use this in production.',
    );
  }
  const address = config.temporal.address ?? (await startEmbeddedTemporal(config, logger, closers));

  const db = await openDb({ databaseUrl: config.databaseUrl, pgliteDir: path.join(config.dataDir, 'store') });
  closers.push(() => db.close());
  const applied = await migrate(db);
  if (applied.length > 0) logger.info({ applied }, 'store migrated');
  const store = createStore(db);

  const client = await connectClient(address, config.temporal.namespace);
  closers.push(() => client.connection.close());
  const registered = await registerSearchAttributes(client);
  if (registered.length > 0) logger.info({ registered }, 'search attributes registered');

  const targets = {
    allowInsecure: config.allowInsecureTargets,
    allowedCidrs: config.allowedTargetCidrs,
    allowedPorts: config.allowedTargetPorts,
  };
  let workerRun: Promise<void> | undefined;
  // With the worker in this process, delivery workflows start eagerly: Temporal hands each one's
  // first task straight back to this worker instead of queueing it for a poll (halves the time
  // from POST to the receiver, docs/benchmarks.md). Eager start needs the worker's connection.
  let eagerClient: Client | undefined;
  if (mode !== 'api') {
    const connection = await NativeConnection.connect({ address });
    eagerClient = new Client({ connection, namespace: config.temporal.namespace });
    const worker = await createDeliveryWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      store,
      logger,
      targets,
      // SIGTERM lets attempts in flight finish (each is bounded by the attempt timeout) and record themselves.
      shutdownGraceMs: config.attemptTimeoutMs + 5_000,
      ...(config.temporal.workflowBundlePath
        ? { workflowBundle: { codePath: config.temporal.workflowBundlePath } }
        : {}),
    });
    workerRun = worker.run();
    closers.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun?.catch(() => undefined);
      await connection.close();
    });
    logger.info({ taskQueue: config.temporal.taskQueue }, 'worker running');
  }
  if (mode !== 'worker') {
    const apiKeys = config.apiKeys.length > 0 ? config.apiKeys : mode === 'all' ? [embeddedApiKey(config.dataDir)] : [];
    if (apiKeys.length === 0) throw new ConfigError('WEBHOOKS_API_KEYS is empty: the API would refuse every request');
    const api = await startApiServer({
      client,
      store,
      logger,
      port: config.port,
      apiKeys,
      taskQueue: config.temporal.taskQueue,
      attemptTimeoutMs: config.attemptTimeoutMs,
      maxBodyBytes: config.maxBodyBytes,
      temporalUiUrl: config.temporal.uiUrl,
      targets,
      ...(eagerClient ? { dispatch: { client: eagerClient, eagerStart: true } } : {}),
    });
    closers.push(() => api.close());
    logger.info({ url: api.url, openapi: `${api.url}/openapi.json` }, 'API listening');
  }
  return workerRun ? { workerRun } : {};
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const closers: Closer[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      logger.info({ reason }, 'shutting down');
      for (const close of closers.reverse()) {
        await close().catch((error: unknown) => logger.warn({ err: error }, 'error while shutting down'));
      }
    })());
  process.once('SIGINT', () => void stop('SIGINT').then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop('SIGTERM').then(() => process.exit(0)));
  try {
    const { workerRun } = await run(parseMode(process.argv[2]), config, logger, closers);
    // A worker that stops on its own (e.g. a fatal error) takes the process down with it.
    await workerRun?.then(
      () => stop('worker stopped'),
      async (error: unknown) => {
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
