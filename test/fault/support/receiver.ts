/**
 * A counting webhook receiver on loopback. Each subscription posts to its own path `/<name>`;
 * every request is logged with what the receiver did with it, so the suite can count deliveries by
 * (webhook-id, subscription) and explain every duplicate.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the receiver does with one request.
 * - `accept`: processes it and answers 2xx (after `delayMs`, which may exceed the sender's timeout).
 * - `status`: answers a non-2xx status without processing it (after `delayMs`).
 * - `reset`: drops the connection without answering.
 * - `hang`: never answers; the sender's timeout cuts it.
 */
export type Action =
  | { readonly kind: 'accept'; readonly delayMs?: number }
  | { readonly kind: 'status'; readonly status: number; readonly delayMs?: number }
  | { readonly kind: 'reset' }
  | { readonly kind: 'hang' };

export interface RequestInfo {
  /** The subscription's name (the path). */
  readonly subscription: string;
  readonly webhookId: string;
  /** How many requests this (webhook-id, subscription) made before this one. */
  readonly previous: number;
  readonly at: number;
}

/** Decides what to do with a request; the default accepts everything at once. */
export type Behaviour = (request: RequestInfo) => Action;

export interface Receipt extends RequestInfo {
  readonly action: Action['kind'];
  /** True when the receiver processed the event (it answered or meant to answer 2xx). */
  readonly accepted: boolean;
  /** Set when the request is over: whether the answer was written before the sender hung up. */
  answered?: boolean;
  /** When the answer was written or the connection closed. */
  endedAt?: number;
}

export const acceptAll: Behaviour = () => ({ kind: 'accept' });

export class CountingReceiver {
  readonly receipts: Receipt[] = [];
  private readonly perKey = new Map<string, number>();
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<CountingReceiver> {
    const server = createServer();
    const receiver = new CountingReceiver(server);
    server.on('connection', (socket) => {
      receiver.sockets.add(socket);
      socket.once('close', () => receiver.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      req.resume();
      req.once('end', () => receiver.handle(req, res));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return receiver;
  }

  /** The URL a subscription named `name` posts to. */
  url(name: string): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/${name}`;
  }

  /** Sets how requests to `/<name>` are answered. */
  behave(name: string, behaviour: Behaviour): void {
    this.behaviours.set(name, behaviour);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const subscription = (req.url ?? '/').slice(1).split('?')[0] ?? '';
    const webhookId = String(req.headers['webhook-id'] ?? '');
    const key = `${webhookId}|${subscription}`;
    const previous = this.perKey.get(key) ?? 0;
    this.perKey.set(key, previous + 1);
    const info: RequestInfo = { subscription, webhookId, previous, at: Date.now() };
    const action = (this.behaviours.get(subscription) ?? acceptAll)(info);
    const receipt: Receipt = { ...info, action: action.kind, accepted: action.kind === 'accept' };
    this.receipts.push(receipt);
    const end = (answered: boolean): void => {
      if (receipt.endedAt !== undefined) return;
      receipt.answered = answered;
      receipt.endedAt = Date.now();
    };
    res.once('close', () => end(res.writableFinished));
    const answer = (status: number): void => {
      if (req.socket.destroyed) {
        end(false);
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? 'ok' : 'no');
    };
    switch (action.kind) {
      case 'accept':
        setTimeout(() => answer(200), action.delayMs ?? 0);
        break;
      case 'status':
        setTimeout(() => answer(action.status), action.delayMs ?? 0);
        break;
      case 'reset':
        req.socket.destroy();
        break;
      case 'hang':
        break;
    }
  }

  /** Accepted receipts by `webhook-id|subscription`. */
  acceptedByKey(): Map<string, Receipt[]> {
    const byKey = new Map<string, Receipt[]>();
    for (const receipt of this.receipts) {
      if (!receipt.accepted) continue;
      const key = `${receipt.webhookId}|${receipt.subscription}`;
      const list = byKey.get(key) ?? [];
      list.push(receipt);
      byKey.set(key, list);
    }
    return byKey;
  }

  /** Forgets every receipt (between scenarios). */
  reset(): void {
    this.receipts.length = 0;
    this.perKey.clear();
    this.behaviours.clear();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
