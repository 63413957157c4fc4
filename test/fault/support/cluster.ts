/**
 * The shared servers of the fault suite: a Temporal dev server on a SQLite file in a temp dir
 * (so it can be stopped and restarted on its database) and a PostgreSQL server of its own (so it
 * can be restarted without disturbing other test files). One database per scenario.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import {
  devServerSearchAttributes,
  startDevServer,
  type DevServer,
  type DevServerLogger,
} from '../../../devtools/temporal-dev-server';
import { SEARCH_ATTRIBUTE_KEYS } from '../../../core/search-attributes';
import { startPostgres, type TestPostgres } from '../../helpers/postgres';
import { freePort } from './processes';

const quiet: DevServerLogger = { info() {}, warn() {}, error() {} };

export interface Cluster {
  /** Temp directory: the Temporal database and every process's log. */
  readonly dir: string;
  readonly temporalAddress: string;
  readonly postgres: TestPostgres;
  /** A client of the Temporal server, to read workflow histories. */
  readonly client: Client;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the Temporal server (SIGTERM); its SQLite file stays. */
  stopTemporal(): Promise<void>;
  /** Starts it again on the same file and port. */
  startTemporal(): Promise<void>;
  close(): Promise<void>;
}

export async function startCluster(): Promise<Cluster> {
  const cliPath = process.env.TEMPORAL_CLI_PATH;
  if (!cliPath)
    throw new Error('TEMPORAL_CLI_PATH is not set; run the suite through jest (test/helpers/global-setup.ts).');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-fault-'));
  const port = await freePort();
  const devServerOptions = {
    cliPath,
    dbFile: path.join(dir, 'temporal.db'),
    port,
    uiPort: await freePort(),
    namespace: 'default',
    searchAttributes: devServerSearchAttributes(SEARCH_ATTRIBUTE_KEYS),
    headless: true,
    logger: quiet,
  };
  let temporal: DevServer | undefined = await startDevServer(devServerOptions);
  let postgres: TestPostgres | undefined;
  let connection: Connection | undefined;
  try {
    postgres = await startPostgres();
    connection = await Connection.connect({ address: temporal.address });
  } catch (error) {
    await postgres?.stop();
    await temporal.stop();
    throw error;
  }
  const client = new Client({ connection, namespace: 'default' });

  return {
    dir,
    temporalAddress: temporal.address,
    postgres,
    client,
    async createDatabase(name) {
      const admin = new pg.Client({ connectionString: postgres.url });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE "${name}"`);
      } finally {
        await admin.end();
      }
      return postgres.url.replace(/\/[^/]*$/, `/${name}`);
    },
    async stopTemporal() {
      await temporal?.stop();
      temporal = undefined;
    },
    async startTemporal() {
      temporal ??= await startDevServer(devServerOptions);
    },
    async close() {
      await connection.close().catch(() => undefined);
      await temporal?.stop();
      await postgres.stop();
      if (process.env.FAULT_KEEP_LOGS) process.stdout.write(`fault suite logs kept in ${dir}\n`);
      else await rm(dir, { recursive: true, force: true });
    },
  };
}
