/**
 * A minimal webhook receiver on loopback: answers every POST at once, with 200 or (for paths
 * under a failing prefix) 500, and remembers when each request arrived and what it was answered.
 * It does not verify signatures: the tests do that; here it would only add cost to the figure.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface Arrival {
  /** performance.now() when the request's headers arrived. */
  readonly at: number;
  readonly path: string;
  /** The `webhook-id` header: the event id. */
  readonly webhookId: string;
  readonly status: number;
}

export type ArrivalListener = (arrival: Arrival) => void;

export class BenchReceiver {
  /** Every request, in order of arrival, while `recording` is true. */
  readonly arrivals: Arrival[] = [];
  recording = false;
  private readonly failing = new Set<string>();
  private readonly listeners = new Set<ArrivalListener>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<BenchReceiver> {
    const server = createServer({ keepAlive: true, keepAliveTimeout: 30_000 });
    const receiver = new BenchReceiver(server);
    server.on('request', (req, res) => receiver.handle(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return receiver;
  }

  get baseUrl(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Requests whose path starts with `prefix` are answered 500 until `recover(prefix)`. */
  fail(prefix: string): void {
    this.failing.add(prefix);
  }

  recover(prefix: string): void {
    this.failing.delete(prefix);
  }

  onArrival(listener: ArrivalListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  clear(): void {
    this.arrivals.length = 0;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const at = performance.now();
    const path = req.url ?? '/';
    let status = 200;
    for (const prefix of this.failing) if (path.startsWith(prefix)) status = 500;
    const header = req.headers['webhook-id'];
    const arrival: Arrival = { at, path, webhookId: typeof header === 'string' ? header : '', status };
    if (this.recording) this.arrivals.push(arrival);
    for (const listener of this.listeners) listener(arrival);
    req.resume();
    req.once('end', () => {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end(status === 200 ? 'ok' : 'no');
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
