/**
 * Limits on what comes in (request size, content type, field lengths and counts, headers a
 * subscription may set) and on what comes back (a receiver's answer is read up to 1 KiB; one that
 * streams forever, sends a huge body, trickles, or never answers costs no memory and ends by the
 * attempt's timeout).
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createHttpAgent, postWebhookRequest, RESPONSE_BODY_LIMIT_BYTES } from '../../activities/http';
import { startHarness, type Harness } from '../helpers/harness';
import { createTestTemporal } from '../helpers/temporal-env';

const MAX_BODY_BYTES = 64 * 1024;

describe('what comes in', () => {
  let env: TestWorkflowEnvironment;
  let h: Harness;
  let subscriptionId: string;

  beforeAll(async () => {
    env = await createTestTemporal();
    h = await startHarness({ env, worker: false, maxBodyBytes: MAX_BODY_BYTES });
    expect((await h.call('POST', '/v1/event-types', { id: 'order.created' })).status).toBe(201);
    const sub = await h.call('POST', '/v1/subscriptions', {
      url: 'http://127.0.0.1:9/never',
      eventTypes: ['order.created'],
      active: false,
    });
    subscriptionId = sub.body.id;
  }, 120_000);

  afterAll(async () => {
    await h?.close();
    await env?.teardown();
  });

  /** Row counts of every table, to show a refused request wrote nothing. */
  const counts = async (): Promise<Record<string, number>> => {
    const tables = ['event_types', 'subscriptions', 'events', 'deliveries', 'attempts', 'api_keys'];
    const rows = await Promise.all(
      tables.map((table) => h.store.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)),
    );
    return Object.fromEntries(tables.map((table, i) => [table, rows[i]?.[0]?.n ?? -1]));
  };

  async function raw(
    method: string,
    path: string,
    body: string | Buffer | undefined,
    headers: Record<string, string>,
  ): Promise<{ status: number; body: any }> {
    const res = await fetch(`${h.api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${h.apiKey}`, ...headers },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  const event = (size: number): string => JSON.stringify({ type: 'order.created', data: { pad: 'x'.repeat(size) } });

  test(`a body just under the limit is accepted; one byte over → 413`, async () => {
    const fits = event(MAX_BODY_BYTES - 100);
    expect(Buffer.byteLength(fits)).toBeLessThanOrEqual(MAX_BODY_BYTES);
    expect((await raw('POST', '/v1/events', fits, { 'content-type': 'application/json' })).status).toBe(202);
    const before = await counts();
    const over = event(MAX_BODY_BYTES);
    const res = await raw('POST', '/v1/events', over, { 'content-type': 'application/json' });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({
      code: 'payload_too_large',
      details: [{ path: 'body', message: 'exceeds the size limit' }],
    });
    expect(await counts()).toEqual(before);
  });

  test('an oversized body without a content length (chunked) → 413', async () => {
    const chunks = (async function* () {
      for (let i = 0; i < 100; i += 1)
        yield new TextEncoder().encode(i === 0 ? '{"type":"order.created","data":"' : 'x'.repeat(1024));
    })();
    const res = await fetch(`${h.api.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.apiKey}`, 'content-type': 'application/json' },
      body: ReadableStream.from(chunks),
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
  });

  test('a gzip bomb (64 KiB compressed, 16 MiB inflated) is cut at the limit → 413', async () => {
    const bomb = gzipSync(Buffer.from(`{"type":"order.created","data":"${'0'.repeat(16 * 1024 * 1024)}"}`));
    expect(bomb.length).toBeLessThan(MAX_BODY_BYTES);
    const before = process.memoryUsage().rss;
    const res = await raw('POST', '/v1/events', bomb, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(res.status).toBe(413);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  test.each([
    ['text/plain', 'text/plain'],
    ['form data', 'application/x-www-form-urlencoded'],
    ['xml', 'application/xml'],
    ['json in another charset', 'application/json; charset=latin1'],
  ])('a body of type %s → 415', async (_what, contentType) => {
    const before = await counts();
    const res = await raw('POST', '/v1/events', '{"type":"order.created","data":{}}', { 'content-type': contentType });
    expect(res.status).toBe(415);
    expect(res.body.error.details[0].path).toBe('content-type');
    expect(await counts()).toEqual(before);
  });

  test.each([
    ['malformed JSON', '{"type": "order.created",', 400, 'body'],
    ['a JSON string at the top', '"order.created"', 422, 'body'],
    ['a JSON array at the top', '[]', 422, 'body'],
  ])('%s → %s', async (_what, body, status, path) => {
    const res = await raw('POST', '/v1/events', body, { 'content-type': 'application/json' });
    expect(res.status).toBe(status);
    expect(res.body.error.details[0].path).toBe(path);
  });

  const longHeaders = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`x-h${i}`, 'v']));
  const manyTypes = Array.from({ length: 101 }, (_, i) => `type.${i}`);
  const sub = (extra: Record<string, unknown>) => ({
    url: 'https://hooks.example.com/in',
    eventTypes: ['order.created'],
    ...extra,
  });

  test.each<[string, Record<string, unknown>, string | RegExp, RegExp]>([
    ['an unknown field', sub({ owner: 'me' }), 'body', /unknown field\(s\): owner/],
    ['a 2049-character url', sub({ url: `https://hooks.example.com/${'a'.repeat(2030)}` }), 'url', /at most 2048/],
    ['a 1025-character description', sub({ description: 'd'.repeat(1025) }), 'description', /at most 1024/],
    ['a 129-character accountId', sub({ accountId: 'a'.repeat(129) }), 'accountId', /at most 128/],
    ['101 event types', sub({ eventTypes: manyTypes }), 'eventTypes', /at most 100/],
    ['"*" with other types', sub({ eventTypes: ['*', 'order.created'] }), 'eventTypes', /"\*" must be the only entry/],
    ['21 headers', sub({ headers: longHeaders }), 'headers', /at most 20 headers/],
    ['a 65-character header name', sub({ headers: { [`x-${'n'.repeat(63)}`]: 'v' } }), /^headers\./, /HTTP tokens/],
    ['a header name with CR/LF', sub({ headers: { 'x-a\r\nx-injected': 'v' } }), /^headers\./, /HTTP tokens/],
    ['a header name with a space', sub({ headers: { 'x a': 'v' } }), /^headers\./, /HTTP tokens/],
    ['a header value with CR/LF', sub({ headers: { 'x-a': 'v\r\nx-injected: 1' } }), 'headers.x-a', /CR, LF or NUL/],
    ['a header value with a bare LF', sub({ headers: { 'x-a': 'v\nx' } }), 'headers.x-a', /CR, LF or NUL/],
    [
      'a header value with a control character',
      sub({ headers: { 'x-a': 'v\u0007' } }),
      'headers.x-a',
      /printable ASCII/,
    ],
    ['a header value outside ASCII', sub({ headers: { 'x-a': 'v€' } }), 'headers.x-a', /printable ASCII/],
    ['a 1025-character header value', sub({ headers: { 'x-a': 'v'.repeat(1025) } }), 'headers.x-a', /at most 1024/],
    ['a non-string header value', sub({ headers: { 'x-a': 1 } }), 'headers.x-a', /strings/],
    ...[
      'host',
      'Host',
      'content-length',
      'Content-Type',
      'user-agent',
      'transfer-encoding',
      'connection',
      'webhook-id',
      'Webhook-Signature',
      'webhook-timestamp',
    ].map((name): [string, Record<string, unknown>, string, RegExp] => [
      `an override of ${name}`,
      sub({ headers: { [name]: 'x' } }),
      `headers.${name}`,
      /set by the service/,
    ]),
    ['a retry policy with an unknown field', sub({ retryPolicy: { forever: true } }), 'retryPolicy', /unknown field/],
  ])('subscription with %s → 422 naming the field', async (_what, body, path, message) => {
    const before = await counts();
    const res = await h.call('POST', '/v1/subscriptions', body);
    expect(res.status).toBe(422);
    const detail = res.body.error.details[0];
    expect(detail.path).toEqual(typeof path === 'string' ? path : expect.stringMatching(path));
    expect(detail.message).toMatch(message);
    expect(await counts()).toEqual(before);
  });

  test('PATCH applies the same header rules', async () => {
    const res = await h.call('PATCH', `/v1/subscriptions/${subscriptionId}`, { headers: { 'Webhook-Id': 'forged' } });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe('headers.Webhook-Id');
    expect((await h.call('GET', `/v1/subscriptions/${subscriptionId}`)).body.headers).toEqual({});
  });

  test.each([
    ['an unknown field', { type: 'order.created', data: {}, extra: 1 }, 'body'],
    ['a type with a space', { type: 'order created', data: {} }, 'type'],
    ['a 129-character type', { type: 't'.repeat(129), data: {} }, 'type'],
    ['a 129-character id', { type: 'order.created', data: {}, id: 'i'.repeat(129) }, 'id'],
    [
      'a 2049-character callbackUrl',
      { type: 'order.created', data: {}, callbackUrl: `https://x.example/${'a'.repeat(2040)}` },
      'callbackUrl',
    ],
    ['a NUL in the data', { type: 'order.created', data: { s: 'a\u0000b' } }, 'data.s'],
  ])('event with %s → 422 naming the field', async (_what, body, path) => {
    const before = await counts();
    const res = await h.call('POST', '/v1/events', body);
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe(path);
    expect(await counts()).toEqual(before);
  });

  test('an Idempotency-Key with CR/LF or too long → 422', async () => {
    for (const key of ['a b', 'k'.repeat(129)]) {
      const res = await h.call('POST', '/v1/events', { type: 'order.created', data: {} }, { 'idempotency-key': key });
      expect(res.status).toBe(422);
      expect(res.body.error.details[0].path).toBe('headers.idempotency-key');
    }
  });

  test.each([
    ['/v1/deliveries?limit=1000', 'query.limit'],
    ['/v1/deliveries?limit=-1', 'query.limit'],
    ['/v1/deliveries?cursor=garbage', 'query.cursor'],
    ['/v1/deliveries?status=lost', 'query.status'],
    ['/v1/subscriptions?unknown=1', 'query'],
    ['/v1/subscriptions?active=yes', 'query.active'],
  ])('GET %s → 422 naming %s', async (path, field) => {
    const res = await h.call('GET', path);
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe(field);
  });

  test('an event type id over 128 characters, or an unknown field → 422', async () => {
    expect((await h.call('POST', '/v1/event-types', { id: 'e'.repeat(129) })).body.error.details[0].path).toBe('id');
    expect((await h.call('POST', '/v1/event-types', { id: 'ok.type', color: 'red' })).status).toBe(422);
  });
});

describe("what comes back: a receiver's answer", () => {
  const servers: Array<Server | TcpServer> = [];
  const sockets = new Set<Socket>();
  const agent = createHttpAgent();
  const TIMEOUT_MS = 1_000;

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await agent.close();
    for (const server of servers) {
      if ('closeAllConnections' in server) server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  /**
   * Starts an HTTP receiver; `sent` counts the body bytes it managed to hand to the socket, and
   * `closed` resolves when its answer's connection closes (after which it cannot send more).
   */
  async function receiver(answer: (res: ServerResponse, sent: { bytes: number }) => void) {
    const sent = { bytes: 0 };
    let onClose!: () => void;
    const closed = new Promise<void>((resolve) => (onClose = resolve));
    const server = createHttpServer((req, res) => {
      res.once('close', onClose);
      req.resume();
      req.on('end', () => answer(res, sent));
    });
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`, sent, closed };
  }

  /** Resolves once the sender has dropped the receiver's connection; fails if it has not within 5 s. */
  async function dropped(r: { closed: Promise<void> }): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      r.closed,
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error('the sender kept the connection open for 5 s')), 5_000);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  const post = (url: string) =>
    postWebhookRequest(agent, {
      url,
      headers: { 'content-type': 'application/json' },
      body: '{}',
      timeoutMs: TIMEOUT_MS,
      signal: new AbortController().signal,
    });

  /** Heap and buffers now, after a collection when it is exposed. */
  const memory = (): number => {
    (globalThis as { gc?: () => void }).gc?.();
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };

  /** Writes 64 KiB chunks as fast as the socket takes them, until it closes. */
  function firehose(res: ServerResponse, sent: { bytes: number }, headers: Record<string, string>): void {
    const chunk = Buffer.alloc(64 * 1024, 'a');
    res.writeHead(200, headers);
    const pump = (): void => {
      while (!res.destroyed && sent.bytes < 1024 ** 3) {
        sent.bytes += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }

  test('a receiver that streams forever: 1 KiB is kept, the rest is never read, memory stays flat', async () => {
    const r = await receiver((res, sent) => firehose(res, sent, { 'content-type': 'text/plain' }));
    const before = memory();
    const started = Date.now();
    const response = await post(r.url);
    expect(response.statusCode).toBe(200);
    expect(Buffer.byteLength(response.body)).toBeLessThanOrEqual(RESPONSE_BODY_LIMIT_BYTES);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 500);
    await dropped(r);
    // What the receiver could push is bounded by socket buffers, not by what it wanted to send (1 GiB).
    expect(r.sent.bytes).toBeLessThan(32 * 1024 * 1024);
    expect(memory() - before).toBeLessThan(32 * 1024 * 1024);
  });

  test('a receiver that announces a 1 GiB body: same, the connection is dropped', async () => {
    const r = await receiver((res, sent) =>
      firehose(res, sent, { 'content-type': 'application/octet-stream', 'content-length': String(1024 ** 3) }),
    );
    const before = memory();
    const response = await post(r.url);
    expect(response.statusCode).toBe(200);
    expect(response.body).toHaveLength(RESPONSE_BODY_LIMIT_BYTES);
    await dropped(r);
    expect(r.sent.bytes).toBeLessThan(32 * 1024 * 1024);
    expect(memory() - before).toBeLessThan(32 * 1024 * 1024);
  });

  test('a receiver that trickles its body a byte at a time is cut by the attempt timeout', async () => {
    const r = await receiver((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('.')), 20);
      res.on('close', () => clearInterval(timer));
    });
    const started = Date.now();
    const response = await post(r.url);
    const took = Date.now() - started;
    // The status counts; the body is what arrived before the deadline, if anything.
    expect(response.statusCode).toBe(200);
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(took).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  test('a receiver that sends its headers a byte at a time is cut by the attempt timeout', async () => {
    const server = createTcpServer((socket) => {
      sockets.add(socket);
      const head = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n' + 'x-pad: ' + 'p'.repeat(10_000);
      let i = 0;
      const timer = setInterval(
        () => (socket.destroyed || i >= head.length ? clearInterval(timer) : socket.write(head[i++] as string)),
        10,
      );
      socket.on('close', () => clearInterval(timer));
      socket.on('error', () => undefined);
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const started = Date.now();
    await expect(post(`http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`)).rejects.toThrow();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(took).toBeLessThan(TIMEOUT_MS + 1_000);
  });

  test('a receiver that accepts the connection and never answers is cut by the attempt timeout', async () => {
    const server = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const started = Date.now();
    await expect(post(`http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`)).rejects.toThrow(
      /timeout|abort/i,
    );
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(took).toBeLessThan(TIMEOUT_MS + 1_000);
  });
});
