/**
 * A receiver in a process of its own that notes when each request arrived and answers 200. The
 * test process also runs the service, its workers and its store, whose work would hold up an
 * in-process receiver's clock; this one times arrivals as a receiver on another machine would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** The receiver: one JSON line on stdout for its port, then one for each request it answered. */
const RECEIVER_SOURCE = `
const server = require('node:http').createServer((req, res) => {
  const at = Date.now();
  req.resume();
  req.on('end', () => {
    res.end('ok');
    process.stdout.write(JSON.stringify({ at, webhookId: req.headers['webhook-id'] ?? null }) + '\\n');
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
`;

export interface Arrival {
  /** When the request arrived, ms since the epoch, by the receiver's clock. */
  readonly at: number;
  readonly webhookId: string | null;
}

export class ArrivalRecorder {
  readonly arrivals: Arrival[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static async start(): Promise<ArrivalRecorder> {
    const child = spawn(process.execPath, ['-e', RECEIVER_SOURCE], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const [first] = (await once(lines, 'line')) as [string];
    const { port } = JSON.parse(first) as { port: number };
    const recorder = new ArrivalRecorder(child, `http://127.0.0.1:${port}/webhook`);
    lines.on('line', (line: string) => recorder.arrivals.push(JSON.parse(line) as Arrival));
    return recorder;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await once(this.child, 'exit');
  }
}
