/**
 * The real worker as a child process (`src/main.ts worker`), to kill it the hard way. Node is
 * started directly, as `npm run worker` starts it (one process, no launcher in between), so a
 * SIGKILL hits the worker itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TEST_ENCRYPTION_KEYS } from './key-ring';
import { SERVICE_ENV_DEFAULTS, SERVICE_NODE_ARGS } from './service-launch';
import { waitFor } from './wait';

const PROJECT_ROOT = path.resolve(__dirname, '../..');
const OUTPUT_LINES = 50;

/** Every worker started here, so that a test run that crashes still takes them down. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface WorkerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface WorkerProcess {
  readonly pid: number;
  readonly exited: Promise<WorkerExit>;
  /** The last lines it printed (stdout and stderr), for failure messages. */
  output(): string;
  /** Sends `signal` and resolves once the process is gone. */
  kill(signal: NodeJS.Signals): Promise<WorkerExit>;
}

/**
 * Starts `src/main.ts worker` with `env` on top of this process's environment; `onLine` sees
 * every line it prints, stdout and stderr.
 */
export function spawnWorker(
  env: Readonly<Record<string, string>>,
  onLine: (line: string) => void = () => undefined,
): WorkerProcess {
  const child = spawn(process.execPath, [...SERVICE_NODE_ARGS, 'src/main.ts', 'worker'], {
    cwd: PROJECT_ROOT,
    env: { ...SERVICE_ENV_DEFAULTS, ...process.env, WEBHOOKS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not spawn the worker process');
  live.add(child);
  const lines: string[] = [];
  /** Splits one stream into whole lines, holding a line's start until its end arrives. */
  const lineReader = (): ((chunk: Buffer) => void) => {
    let partial = '';
    return (chunk) => {
      const complete = (partial + chunk.toString('utf8')).split('\n');
      partial = complete.pop() ?? '';
      for (const line of complete.filter((candidate) => candidate.trim() !== '')) {
        lines.push(line);
        onLine(line);
      }
      lines.splice(0, Math.max(0, lines.length - OUTPUT_LINES));
    };
  };
  child.stdout.on('data', lineReader());
  child.stderr.on('data', lineReader());
  const exited = new Promise<WorkerExit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    pid: child.pid,
    exited,
    output: () => lines.join('\n'),
    async kill(signal) {
      child.kill(signal);
      return exited;
    },
  };
}

/**
 * Resolves once the worker with this pid polls `taskQueue` for both workflow and activity tasks
 * (the SDK's default identity is `<pid>@<hostname>`). Pollers of a killed worker stay listed for a
 * while, so the pid tells the new worker apart.
 */
export async function waitUntilPolling(
  client: Client,
  taskQueue: string,
  worker: WorkerProcess,
  timeoutMs = 60_000,
): Promise<void> {
  const identity = `${worker.pid}@${os.hostname()}`;
  const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = temporal.api.enums.v1.TaskQueueType;
  let exit: WorkerExit | undefined;
  void worker.exited.then((info) => (exit = info));
  const outcome = await waitFor(
    async (): Promise<WorkerExit | 'polling' | undefined> => {
      if (exit) return exit;
      for (const taskQueueType of [TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY]) {
        const { pollers } = await client.workflowService.describeTaskQueue({
          namespace: client.options.namespace,
          taskQueue: { name: taskQueue },
          taskQueueType,
        });
        if (!pollers?.some((poller) => poller.identity === identity)) return undefined;
      }
      return 'polling';
    },
    `worker ${identity} to poll ${taskQueue}`,
    timeoutMs,
    200,
  ).catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${worker.output()}`);
  });
  if (outcome !== 'polling') {
    throw new Error(`the worker exited (${outcome.signal ?? outcome.code}) before polling:\n${worker.output()}`);
  }
}
