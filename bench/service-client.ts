/** The benchmark's handle on the service process: fork it, wait until it is ready, send it commands. */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { SERVICE_ENV_DEFAULTS, SERVICE_NODE_ARGS } from '../test/helpers/service-launch';
import type { Command, Reply, ServiceConfig, ServiceReady } from './protocol';

/** How long the service may take to start (it bundles the workflow code unless given a bundle). */
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;

export class ServiceProcess {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  private constructor(
    private readonly child: ChildProcess,
    readonly ready: ServiceReady,
  ) {
    child.on('message', (message: Reply) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`service: ${message.error}`));
    });
    child.once('exit', (code, signal) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`service exited (${signal ?? code})`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  static async start(config: ServiceConfig): Promise<ServiceProcess> {
    // Node flags and environment defaults as `npm start` / `npm run worker` give them.
    const child = fork(path.join(__dirname, 'service.ts'), [], {
      execArgv: [...SERVICE_NODE_ARGS],
      env: { ...SERVICE_ENV_DEFAULTS, ...process.env, BENCH_SERVICE_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise<ServiceReady>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the service did not start in time')), START_TIMEOUT_MS);
      child.once('message', (message: ServiceReady) => {
        clearTimeout(timer);
        resolve(message);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the service exited during start-up (code ${code})`));
      });
    });
    return new ServiceProcess(child, ready);
  }

  request<T>(command: Command): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, command });
    });
  }

  /** Asks the service to close cleanly; kills it when it does not exit in time. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    this.request({ type: 'stop' }).catch(() => undefined);
    await exited;
    clearTimeout(timer);
  }
}
