/** Helpers of the security suite: a stub resolver, certificates, an HTTPS receiver, log capture. */
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { generate } from 'selfsigned';
import type { Resolver } from '../../core/targets';
import { createLogger } from '../../src/logger';

/** A resolver answering from a table the test may change between calls (DNS rebinding). */
export interface StubResolver extends Resolver {
  readonly table: Map<string, string[]>;
  readonly calls: string[];
}

export function stubResolver(entries: Record<string, string[]> = {}): StubResolver {
  const table = new Map(Object.entries(entries));
  const calls: string[] = [];
  const resolve = async (hostname: string) => {
    calls.push(hostname);
    const addresses = table.get(hostname);
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));
  };
  return Object.assign(resolve, { table, calls });
}

export interface Certificate {
  readonly key: string;
  readonly cert: string;
}

/** A self-signed certificate for these DNS names (and 127.0.0.1), valid for a day. */
export async function selfSignedCertificate(names: readonly string[]): Promise<Certificate> {
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: names[0] ?? 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...names.map((value) => ({ type: 2 as const, value })), { type: 7 as const, ip: '127.0.0.1' }],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

export interface HttpsRequest {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** An HTTPS receiver on 127.0.0.1 that records what it got and answers as `reply` says (200 by default). */
export class HttpsReceiver {
  readonly requests: HttpsRequest[] = [];
  private constructor(private readonly server: Server) {}

  static async start(
    certificate: Certificate,
    reply: () => { status: number; headers?: Record<string, string> } = () => ({ status: 200 }),
  ): Promise<HttpsReceiver> {
    const server = createServer({ key: certificate.key, cert: certificate.cert });
    const receiver = new HttpsReceiver(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        receiver.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const { status, headers } = reply();
        res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end('ok');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A logger at the most verbose level whose every line is kept in memory. */
export function capturingLogger(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('trace', sink), text: () => lines.join('') };
}
