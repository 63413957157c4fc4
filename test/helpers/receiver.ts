/** A scripted webhook receiver on loopback: records every request and answers as the test says. */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly receivedAt: number;
}

/** What to answer; `hang: true` never answers (until the receiver closes). */
export interface Reply {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly hang?: boolean;
  readonly delayMs?: number;
}

/** Decides the reply to the n-th request (1-based). */
export type Script = (request: ReceivedRequest, n: number) => Reply;

export const always =
  (status: number, headers?: Record<string, string>): Script =>
  () => ({ status, ...(headers ? { headers } : {}) });

/** Answers with each reply in turn, then repeats the last. */
export const sequence =
  (...replies: Reply[]): Script =>
  (_request, n) =>
    replies[Math.min(n, replies.length) - 1] ?? { status: 200 };

export class TestReceiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly hanging = new Set<ServerResponse>();
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    public script: Script,
  ) {}

  static async start(script: Script = always(200), host = '127.0.0.1'): Promise<TestReceiver> {
    const server = createServer();
    const receiver = new TestReceiver(server, script);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () =>
        receiver.handle(req.method ?? '', req.url ?? '', req.headers, Buffer.concat(chunks).toString('utf8'), res),
      );
    });
    server.listen(0, host);
    await once(server, 'listening');
    return receiver;
  }

  get url(): string {
    const { address, port } = this.server.address() as AddressInfo;
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}/webhook`;
  }

  private handle(method: string, path: string, headers: IncomingHttpHeaders, body: string, res: ServerResponse): void {
    const request: ReceivedRequest = { method, path, headers, body, receivedAt: Date.now() };
    this.requests.push(request);
    const reply = this.script(request, this.requests.length);
    for (const wake of this.waiters.splice(0)) wake();
    if (reply.hang) {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    const send = (): void => {
      res.writeHead(reply.status ?? 200, { 'content-type': 'text/plain', ...reply.headers });
      res.end(reply.body ?? 'ok');
    };
    if (reply.delayMs) setTimeout(send, reply.delayMs);
    else send();
  }

  /** Resolves once `count` requests have arrived; rejects after timeoutMs. */
  async waitForRequests(count: number, timeoutMs = 20_000): Promise<ReceivedRequest[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} requests, got ${this.requests.length} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.requests.slice(0, count);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
