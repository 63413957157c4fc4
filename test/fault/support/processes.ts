/**
 * The service as real processes: `src/main.ts api|worker` started by Node directly with the flags
 * of `npm run api` / `npm run worker` (one process, no launcher in between), so a SIGKILL hits the
 * service itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SERVICE_ENV_DEFAULTS, SERVICE_NODE_ARGS } from '../../helpers/service-launch';

const PROJECT_ROOT = path.resolve(__dirname, '../../..');
const TAIL_LINES = 200;

/** Every child started by this module, so a crashed test run still kills them on exit. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** One structured log line of the service (pino JSON). */
export interface LogLine {
  readonly level?: number;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

export interface ServiceOptions {
  /** Label in logs and errors, e.g. `worker-1`. */
  readonly name: string;
  readonly mode: 'api' | 'worker';
  /** Environment on top of this process's own. */
  readonly env: Readonly<Record<string, string>>;
  /** Directory for the full log file `<name>.log`. */
  readonly logDir: string;
  /** How long to wait for the process to report it is ready, ms. @default 60000 */
  readonly readyTimeoutMs?: number;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** When it exited (epoch ms). */
  readonly at: number;
}

/** A running `api` or `worker` process. Start another with `ServiceProcess.start` after it exits. */
export class ServiceProcess {
  /** Log lines of an attempt (one per attempt: delivered, failed or refused): the attempts this process made. */
  attempts = 0;
  private readonly tail: string[] = [];
  private readonly listeners = new Set<(line: LogLine) => void>();
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;

  private constructor(
    readonly options: ServiceOptions,
    private readonly child: ChildProcess,
    private readonly log: WriteStream,
  ) {
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exitInfo = { code, signal, at: Date.now() };
        log.end();
        resolve(this.exitInfo);
      });
    });
    let pending = '';
    const onData = (chunk: Buffer): void => {
      log.write(chunk);
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      for (const text of lines) this.onLine(text);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
  }

  static async start(options: ServiceOptions): Promise<ServiceProcess> {
    const child = spawn(process.execPath, [...SERVICE_NODE_ARGS, 'src/main.ts', options.mode], {
      cwd: PROJECT_ROOT,
      env: { ...SERVICE_ENV_DEFAULTS, ...process.env, LOG_LEVEL: 'info', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = createWriteStream(path.join(options.logDir, `${options.name}.log`), { flags: 'a' });
    const service = new ServiceProcess(options, child, log);
    const ready = options.mode === 'api' ? 'API listening' : 'worker running';
    await service.waitForLog(
      (line) => line.msg === ready,
      options.readyTimeoutMs ?? 60_000,
      `${options.name} to start`,
    );
    return service;
  }

  get name(): string {
    return this.options.name;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** The last lines it printed, for failure messages. */
  recentOutput(lines = 30): string {
    return this.tail.slice(-lines).join('\n');
  }

  private onLine(text: string): void {
    if (text.trim() === '') return;
    this.tail.push(text);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    if (typeof line.deliveryId === 'string' && typeof line.attempt === 'number') this.attempts += 1;
    for (const listener of this.listeners) listener(line);
  }

  /** Calls `listener` with every later log line; returns a function that stops it. */
  onLog(listener: (line: LogLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first later log line that matches; rejects on exit or after timeoutMs. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const finish = (error: Error | undefined, line?: LogLine): void => {
        clearTimeout(timer);
        stop();
        if (error) reject(error);
        else resolve(line as LogLine);
      };
      const timer = setTimeout(
        () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.recentOutput()}`)),
        timeoutMs,
      );
      const stop = this.onLog((line) => {
        if (match(line)) finish(undefined, line);
      });
      void this.exited.then((exit) =>
        finish(
          new Error(
            `${this.name} exited (${exit.signal ?? exit.code}) while waiting for ${what}\n${this.recentOutput()}`,
          ),
        ),
      );
    });
  }

  /** Sends a signal; resolves with how the process exited, SIGKILLing it after graceMs. */
  async kill(signal: NodeJS.Signals, graceMs = 30_000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resident set size in bytes, from /proc; undefined once the process is gone. */
  async rssBytes(): Promise<number | undefined> {
    if (!this.running) return undefined;
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8').catch(() => '');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  }
}

export { freePort } from '../../helpers/ports';
