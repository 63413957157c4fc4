import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client as PgClient } from 'pg';
import type { Db } from '../../src/store/db';
import { openPostgres } from '../../src/store/pg';
import { freePort } from './ports';

const execFileAsync = promisify(execFile);

/** Where Debian's `postgresql-<major>` packages put their server binaries. */
const DEBIAN_POSTGRES_ROOT = '/usr/lib/postgresql';
/** PostgreSQL refuses to run as root, so as root we run it as Debian's `postgres` user. */
const POSTGRES_SYSTEM_USER = 'postgres';
const START_TIMEOUT_S = 30;

/** A throwaway PostgreSQL server owned by one test run. */
export interface TestPostgres {
  /** e.g. `postgres://postgres@127.0.0.1:54321/postgres`; trust auth, so no password. */
  url: string;
  /** Stops the server and deletes its data directory. */
  stop(): Promise<void>;
  /** Stops the server (fast shutdown) but keeps its data, so `restart` can bring it back. */
  halt(): Promise<void>;
  /** Starts a halted server again, on the same port and data. */
  restart(): Promise<void>;
}

/** @returns the newest `/usr/lib/postgresql/<major>/bin` holding `initdb`, or undefined if none is installed. */
export function findPostgresBin(): string | undefined {
  if (!existsSync(DEBIAN_POSTGRES_ROOT)) {
    return undefined;
  }
  const majors = readdirSync(DEBIAN_POSTGRES_ROOT)
    .filter((entry) => /^\d+(\.\d+)?$/.test(entry))
    .filter((entry) => existsSync(path.join(DEBIAN_POSTGRES_ROOT, entry, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  const newest = majors[0];
  return newest === undefined ? undefined : path.join(DEBIAN_POSTGRES_ROOT, newest, 'bin');
}

/**
 * Creates a cluster in a fresh temp directory and starts it on a free loopback port.
 * Durability is switched off (fsync, full page writes): the data dies with the run anyway.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = findPostgresBin();
  if (!bin) {
    throw new Error(
      `No PostgreSQL server binaries under ${DEBIAN_POSTGRES_ROOT}/<version>/bin; run scripts/install-postgres.sh.`,
    );
  }
  const baseDir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-pg-'));
  const dataDir = path.join(baseDir, 'data');
  const logFile = path.join(baseDir, 'postgres.log');
  const runner = await postgresRunner(baseDir);
  const pgCtl = path.join(bin, 'pg_ctl');

  try {
    await runner.run(path.join(bin, 'initdb'), [
      '--pgdata',
      dataDir,
      '--username',
      'postgres',
      '--auth',
      'trust',
      '--encoding',
      'UTF8',
      '--locale',
      'C',
      '--no-sync',
    ]);
    const port = await freePort();
    await appendFile(path.join(dataDir, 'postgresql.conf'), serverSettings(port, baseDir));
    const start = (): Promise<unknown> =>
      runner.run(pgCtl, [
        '--pgdata',
        dataDir,
        '--log',
        logFile,
        '--wait',
        '--timeout',
        String(START_TIMEOUT_S),
        'start',
      ]);
    await start();
    const isRunning = (): Promise<boolean> =>
      runner.run(pgCtl, ['--pgdata', dataDir, 'status']).then(
        () => true,
        () => false,
      );
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      halt: () => runner.run(pgCtl, ['--pgdata', dataDir, '--mode', 'fast', '--wait', 'stop']),
      restart: async () => {
        await start();
      },
      stop: async () => {
        try {
          // A halted server has nothing to stop.
          await runner
            .run(pgCtl, ['--pgdata', dataDir, '--mode', 'fast', '--wait', 'stop'])
            .catch(async (err: unknown) => {
              if (!(await isRunning())) return;
              throw err;
            });
        } finally {
          await rm(baseDir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    await rm(baseDir, { recursive: true, force: true });
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`Could not start a test PostgreSQL: ${message}${log ? `\n--- postgres.log ---\n${log}` : ''}`);
  }
}

function serverSettings(port: number, socketDir: string): string {
  return [
    '',
    '# test server: loopback only, socket kept out of /var/run/postgresql, durability off',
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${socketDir}'`,
    'fsync = off',
    'synchronous_commit = off',
    'full_page_writes = off',
    'max_connections = 200',
    '',
  ].join('\n');
}

interface PostgresRunner {
  run(command: string, args: string[]): Promise<void>;
}

/** Runs PostgreSQL tools directly, or as root via `runuser` after handing `baseDir` to the postgres user. */
async function postgresRunner(baseDir: string): Promise<PostgresRunner> {
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = await systemId('-u');
    const gid = await systemId('-g');
    await chown(baseDir, uid, gid);
  }
  return {
    run: async (command, args) => {
      const [file, fileArgs] = asRoot
        ? ['runuser', ['-u', POSTGRES_SYSTEM_USER, '--', command, ...args]]
        : [command, args];
      try {
        // cwd: as the postgres user the caller's cwd (e.g. /root) may be unreadable.
        await execFileAsync(file, fileArgs, { cwd: baseDir });
      } catch (err) {
        const stderr = (err as { stderr?: string }).stderr ?? '';
        throw new Error(`${path.basename(command)} failed: ${stderr.trim() || String(err)}`);
      }
    },
  };
}

async function systemId(flag: '-u' | '-g'): Promise<number> {
  try {
    const { stdout } = await execFileAsync('id', [flag, POSTGRES_SYSTEM_USER]);
    return Number(stdout.trim());
  } catch {
    throw new Error(
      `Running as root, but there is no '${POSTGRES_SYSTEM_USER}' user to run PostgreSQL as; ` +
        'run scripts/install-postgres.sh (the Debian package creates it).',
    );
  }
}

/** A database of its own on the run's PostgreSQL server, so a test file never sees another's rows. */
export interface TestDatabase {
  /** Its connection string, for processes the test starts. */
  readonly url: string;
  /** An open connection pool to it. */
  readonly db: Db;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/** Runs one statement on the server's maintenance database. */
async function onServer(serverUrl: string, sql: string): Promise<void> {
  const client = new PgClient({ connectionString: serverUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates `<prefix>_<random>` on the server at TEST_DATABASE_URL (global-setup.ts starts it). */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) throw new Error('TEST_DATABASE_URL is not set: no PostgreSQL server for this run');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = await openPostgres(url.toString());
  return {
    url: url.toString(),
    db,
    async drop() {
      await db.close();
      await onServer(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/**
 * `describe` for a suite that needs the run's PostgreSQL server: without one it is skipped, with
 * a warning, on a developer's machine, and an error in CI.
 */
export function describeWithPostgres(file: string): jest.Describe {
  if (process.env.TEST_DATABASE_URL) return describe;
  if (process.env.CI) throw new Error(`TEST_DATABASE_URL is not set; CI must run ${file} against a real PostgreSQL.`);
  console.warn(`${file}: TEST_DATABASE_URL is unset (no PostgreSQL), so it is SKIPPED.`);
  return describe.skip;
}
