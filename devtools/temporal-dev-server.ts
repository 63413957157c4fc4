import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';

/** Search attribute type names accepted by `temporal server start-dev --search-attribute`. */
export type DevServerSearchAttributeType = 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

/** The dev server's names of search attribute types, by the SDK's (`INT` → `Int`). */
const DEV_SERVER_SEARCH_ATTRIBUTE_TYPES: Readonly<Record<string, DevServerSearchAttributeType>> = {
  KEYWORD: 'Keyword',
  TEXT: 'Text',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** `searchAttributes` for these search attribute keys (the SDK's `defineSearchAttributeKey`). */
export function devServerSearchAttributes(
  keys: ReadonlyArray<{ readonly name: string; readonly type: string }>,
): Record<string, DevServerSearchAttributeType> {
  return Object.fromEntries(keys.map((key) => [key.name, DEV_SERVER_SEARCH_ATTRIBUTE_TYPES[key.type] ?? 'Keyword']));
}

/** The part of a pino logger the dev server writes to. */
export interface DevServerLogger {
  /** Receives the server's stdout (its start-up banner); dropped when absent. */
  debug?(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DevServerOptions {
  /** Absolute path of the Temporal CLI, see `findTemporalCli`. */
  cliPath: string;
  /** SQLite file holding all server state; kept across restarts. Its directory is created. */
  dbFile: string;
  /**
   * Frontend gRPC port, bound on 127.0.0.1.
   * @default 7233
   */
  port?: number;
  /**
   * Web UI port, bound on 127.0.0.1; unused when `headless`.
   * @default 8233
   */
  uiPort?: number;
  /** Namespace created at start-up (the server always creates `default` too). */
  namespace: string;
  /** Custom search attributes registered in `namespace` at start-up, name → type. */
  searchAttributes: Record<string, DevServerSearchAttributeType>;
  /**
   * How long Temporal keeps the closed workflows of `namespace`, ms; set at every start. Temporal
   * keeps them a day at least, so a shorter one is raised to a day.
   * @default the dev server's (a day)
   */
  namespaceRetentionMs?: number;
  /**
   * SQLite pragmas, name → value. WAL with `synchronous=normal` survives a process crash
   * and avoids an fsync per write.
   * @default { journal_mode: 'wal', synchronous: 'normal' }
   */
  sqlitePragmas?: Record<string, string>;
  /**
   * Server dynamic config, key → JSON value. Eager activity dispatch lets the server hand an
   * activity scheduled by a workflow task straight back to the worker that completed it, in the
   * same response, instead of through the task queue (the dev server ships with it off).
   * @default { 'system.enableActivityEagerExecution': true }
   */
  dynamicConfig?: Record<string, string | number | boolean>;
  /**
   * Run without the Web UI.
   * @default false
   */
  headless?: boolean;
  /**
   * How long to wait for the frontend to answer, ms.
   * @default 60000
   */
  startTimeoutMs?: number;
  logger: DevServerLogger;
}

/** A running dev server. */
export interface DevServer {
  /** gRPC address for `Connection.connect` / `NativeConnection.connect`, e.g. `127.0.0.1:7233`. */
  address: string;
  /** Web UI URL; nothing listens there when started `headless`. */
  uiUrl: string;
  /** Sends SIGTERM and waits for exit, escalating to SIGKILL after 10 s. Safe to call twice. */
  stop(): Promise<void>;
}

/** Thrown when the dev server cannot start; `output` holds the tail of what it printed. */
export class DevServerStartError extends Error {
  override readonly name = 'DevServerStartError';
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(output ? `${message}\n--- temporal output (tail) ---\n${output}` : message);
  }
}

const DEFAULT_PORT = 7233;
const DEFAULT_UI_PORT = 8233;
const DEFAULT_SQLITE_PRAGMAS: Readonly<Record<string, string>> = {
  journal_mode: 'wal',
  synchronous: 'normal',
};
const DEFAULT_DYNAMIC_CONFIG: Readonly<Record<string, string | number | boolean>> = {
  'system.enableActivityEagerExecution': true,
  // Tenant fairness: tasks are dispatched round-robin across their fairness keys (WEBHOOKS_FAIRNESS).
  'matching.enableFairness': true,
};
const DEFAULT_START_TIMEOUT_MS = 60_000;
/** Temporal's shortest retention of closed workflows (a namespace update refuses less). */
const MIN_NAMESPACE_RETENTION_MS = 86_400_000;
const STOP_GRACE_MS = 10_000;
const POLL_INTERVAL_MS = 200;
const OUTPUT_TAIL_CHARS = 4_000;
/** Loopback only: the dev server has no auth, and a fixed IPv4 address avoids localhost resolving to ::1. */
const BIND_IP = '127.0.0.1';

/**
 * Starts `temporal server start-dev` with a persistent SQLite file and resolves once the
 * frontend answers and `namespace` exists.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? DEFAULT_PORT;
  const uiPort = options.uiPort ?? DEFAULT_UI_PORT;
  const address = `${BIND_IP}:${port}`;
  const uiUrl = `http://${BIND_IP}:${uiPort}`;
  const { logger } = options;

  await assertPortFree(port, 'gRPC');
  if (!options.headless) {
    await assertPortFree(uiPort, 'Web UI');
  }
  await mkdir(path.dirname(path.resolve(options.dbFile)), { recursive: true });

  const args = devServerArgs({ ...options, port, uiPort });
  logger.info({ cliPath: options.cliPath, args }, 'starting Temporal dev server');
  const child = spawn(options.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = new OutputTail();
  const state = { stopping: false };
  pipeOutput(child, logger, output, state);
  const exited = waitForExit(child);

  const stop = async (): Promise<void> => {
    state.stopping = true;
    await terminate(child, exited);
  };

  try {
    await waitUntilReady({
      address,
      namespace: options.namespace,
      deadline: Date.now() + (options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS),
      exited,
      output,
    });
    if (options.namespaceRetentionMs !== undefined) {
      await setNamespaceRetention(address, options.namespace, options.namespaceRetentionMs);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  logger.info(
    { address, uiUrl: options.headless ? undefined : uiUrl, dbFile: options.dbFile },
    'Temporal dev server ready',
  );
  return { address, uiUrl, stop };
}

function devServerArgs(options: DevServerOptions & { port: number; uiPort: number }): string[] {
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    path.resolve(options.dbFile),
    '--ip',
    BIND_IP,
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--namespace',
    options.namespace,
    '--log-level',
    'warn',
  ];
  for (const [name, type] of Object.entries(options.searchAttributes)) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  for (const [name, value] of Object.entries(options.sqlitePragmas ?? DEFAULT_SQLITE_PRAGMAS)) {
    args.push('--sqlite-pragma', `${name}=${value}`);
  }
  for (const [key, value] of Object.entries(options.dynamicConfig ?? DEFAULT_DYNAMIC_CONFIG)) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  if (options.headless) {
    args.push('--headless');
  }
  return args;
}

/**
 * Fails fast when the port is taken. Otherwise the new server would die with a bind error
 * after we had connected to the old one, which looks like a successful start.
 */
async function assertPortFree(port: number, role: string): Promise<void> {
  if (!(await canConnect(port))) {
    return;
  }
  const temporal = role === 'gRPC' && (await answersAsTemporal(`${BIND_IP}:${port}`));
  const owner = temporal
    ? 'a running Temporal server (perhaps an earlier instance that is still up)'
    : 'another process';
  throw new DevServerStartError(
    `Cannot start the Temporal dev server: ${role} port ${port} on ${BIND_IP} is already in use by ${owner}. ` +
      'Stop it or configure a different port.',
    '',
  );
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: BIND_IP, port });
    socket.setTimeout(1_000);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

async function answersAsTemporal(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: '2s' });
    await connection.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close();
  }
}

interface ReadinessCheck {
  address: string;
  namespace: string;
  /** Epoch ms after which we give up. */
  deadline: number;
  exited: Promise<ExitStatus>;
  output: OutputTail;
}

/** Polls TCP first (cheap), then asks the frontend for the namespace, until the deadline. */
async function waitUntilReady(check: ReadinessCheck): Promise<void> {
  let exit: ExitStatus | undefined;
  void check.exited.then((status) => {
    exit = status;
  });
  const port = Number(check.address.split(':')[1]);
  let lastError = 'the port never accepted a connection';
  while (Date.now() < check.deadline) {
    if (exit) {
      throw new DevServerStartError(
        `Temporal dev server exited during start-up (${describeExit(exit)}).`,
        check.output.text(),
      );
    }
    if (await canConnect(port)) {
      const error = await describeNamespaceError(check.address, check.namespace);
      if (error === undefined) {
        return;
      }
      lastError = error;
    }
    await sleep(POLL_INTERVAL_MS);
  }
  throw new DevServerStartError(
    `Temporal dev server did not become ready at ${check.address} in time (last error: ${lastError}).`,
    check.output.text(),
  );
}

/** @returns undefined when the frontend answers and knows the namespace, else why not. */
async function describeNamespaceError(address: string, namespace: string): Promise<string | undefined> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: '2s' });
    await connection.workflowService.getSystemInfo({});
    await connection.workflowService.describeNamespace({ namespace });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Sets how long the namespace keeps closed workflows (`temporal operator namespace update --retention`). */
async function setNamespaceRetention(address: string, namespace: string, retentionMs: number): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: '2s' });
  try {
    await connection.workflowService.updateNamespace({
      namespace,
      config: { workflowExecutionRetentionTtl: msToTs(Math.max(retentionMs, MIN_NAMESPACE_RETENTION_MS)) },
    });
  } finally {
    await connection.close();
  }
}

interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all (e.g. ENOENT). */
  error?: Error;
}

function waitForExit(child: ChildProcess): Promise<ExitStatus> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

function describeExit(status: ExitStatus): string {
  if (status.error) {
    return status.error.message;
  }
  return status.signal ? `signal ${status.signal}` : `exit code ${String(status.code)}`;
}

async function terminate(child: ChildProcess, exited: Promise<ExitStatus>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    await exited;
    return;
  }
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps the last few KB of the server's output for start-up error messages. */
class OutputTail {
  private buffer = '';

  append(chunk: string): void {
    this.buffer = (this.buffer + chunk).slice(-OUTPUT_TAIL_CHARS);
  }

  text(): string {
    return this.buffer.trim();
  }
}

/**
 * stdout is the start-up banner (debug). stderr carries the server's own logs at warn or
 * error; once we have asked it to stop, its complaints about closing connections are expected
 * noise and go to debug.
 */
function pipeOutput(
  child: ChildProcess,
  logger: DevServerLogger,
  output: OutputTail,
  state: { readonly stopping: boolean },
): void {
  forEachLine(child.stdout, (line) => {
    output.append(`${line}\n`);
    logger.debug?.({ source: 'temporal' }, line);
  });
  forEachLine(child.stderr, (line) => {
    output.append(`${line}\n`);
    if (state.stopping) {
      logger.debug?.({ source: 'temporal' }, line);
    } else if (/\blevel=(ERROR|FATAL|PANIC)\b/i.test(line)) {
      logger.error({ source: 'temporal' }, line);
    } else {
      logger.warn({ source: 'temporal' }, line);
    }
  });
}

function forEachLine(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) {
    return;
  }
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() !== '') {
        onLine(line);
      }
    }
  });
  stream.on('end', () => {
    if (pending.trim() !== '') {
      onLine(pending);
    }
  });
}
