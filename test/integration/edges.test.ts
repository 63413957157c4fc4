/**
 * Every edge of the HTTP interface answers as the README documents (issue 13): UTF-8 only, JSON
 * objects only, the bearer scheme in any case, 405 with Allow, integers in decimal, errors of
 * Node's HTTP parser and of timeouts in the error shape, a committed write never reported as a
 * failure, deliberate server timeouts, and a client that hangs up logged as one info line.
 */
import { connect } from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createHttpServer, SERVER_TIMEOUTS } from '../../src/api/http-server';
import { createLogger } from '../../src/logger';
import { startHarness, type ApiAnswer, type Harness } from '../helpers/harness';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

let env: TestWorkflowEnvironment;
let h: Harness;
let logs = '';
const TYPE = 'edge.checked';

beforeAll(async () => {
  env = await createTestTemporal();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs += String(chunk);
      done();
    },
  });
  h = await startHarness({ env, worker: false, logger: createLogger('info', sink) });
  expect((await h.call('POST', '/v1/event-types', { id: TYPE })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await h?.close();
  await env?.teardown();
});

function expectError(res: ApiAnswer, status: number, code: string, path?: string): void {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(res.body).toEqual({ error: { code, message: expect.any(String), details: expect.any(Array) } });
  if (path) expect(res.body.error.details.map((detail: { path: string }) => detail.path)).toContain(path);
}

/** Sends raw bytes on a new connection and returns everything the server sent until it closed (or `waitMs`). */
async function rawExchange(bytes: string | Buffer, waitMs = 5_000): Promise<string> {
  const { port } = h.api.server.address() as AddressInfo;
  return rawExchangeWith(port, bytes, waitMs);
}

async function rawExchangeWith(port: number, bytes: string | Buffer, waitMs: number): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(bytes);
  await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, waitMs))]);
  socket.destroy();
  return Buffer.concat(chunks).toString('utf8');
}

/** The status and parsed JSON body of each response in a raw exchange. */
function responsesIn(raw: string): Array<{ status: number; headers: string; body: any }> {
  const responses: Array<{ status: number; headers: string; body: any }> = [];
  let rest = raw;
  while (rest.startsWith('HTTP/1.1 ')) {
    const headerEnd = rest.indexOf('\r\n\r\n');
    const headers = rest.slice(0, headerEnd);
    const length = Number(/content-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
    const body = rest.slice(headerEnd + 4, headerEnd + 4 + length);
    responses.push({ status: Number(headers.slice(9, 12)), headers, body: body ? JSON.parse(body) : undefined });
    rest = rest.slice(headerEnd + 4 + length);
  }
  return responses;
}

const auth = (): string => `Authorization: Bearer ${h.apiKey}\r\n`;

describe('bodies: UTF-8 JSON objects only', () => {
  test('invalid UTF-8 → 400, nothing stored', async () => {
    const id = `bad-utf8-${Date.now()}`;
    const body = Buffer.concat([
      Buffer.from(`{"id":"${id}","type":"${TYPE}","data":{"note":"`),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from('"}}'),
    ]);
    const response = await fetch(`${h.api.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.apiKey}`, 'content-type': 'application/json' },
      body,
    });
    expectError(
      { status: response.status, body: await response.json(), headers: response.headers },
      400,
      'malformed_request',
      'body',
    );
    expectError(await h.call('GET', `/v1/events/${id}`), 404, 'not_found');
  });

  test.each(['utf-16', 'UTF-16LE', 'utf-32', 'latin1', 'iso-8859-1', '"utf-16"', 'us-ascii'])(
    'charset=%s → 415, whatever the bytes',
    async (charset) => {
      for (const body of [
        JSON.stringify({ type: TYPE, data: {} }),
        Buffer.from(JSON.stringify({ type: TYPE, data: {} }), 'utf16le'),
      ]) {
        const response = await fetch(`${h.api.url}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${h.apiKey}`, 'content-type': `application/json; charset=${charset}` },
          body,
        });
        expectError(
          { status: response.status, body: await response.json(), headers: response.headers },
          415,
          'unsupported_media_type',
          'content-type',
        );
      }
    },
  );

  test.each(['utf-8', 'UTF-8', '"utf-8"'])('charset=%s is accepted', async (charset) => {
    const res = await h.call('POST', '/v1/events', JSON.stringify({ type: TYPE, data: 'é' }), {
      'content-type': `application/json; charset=${charset}`,
    });
    expect(res.status).toBe(202);
  });

  test.each(['null', '"x"', '1', 'true', '[]', '[{"type":"x"}]'])(
    'well-formed JSON that is not an object (%s) → 422',
    async (body) => {
      expectError(await h.call('POST', '/v1/events', body), 422, 'validation_failed', 'body');
      expectError(await h.call('POST', '/v1/subscriptions', body), 422, 'validation_failed', 'body');
    },
  );

  test('text that is not JSON → 400', async () => {
    expectError(await h.call('POST', '/v1/events', '{"type": "x", data: 1}'), 400, 'malformed_request', 'body');
  });

  test('a number the store cannot hold → 422 at data', async () => {
    expectError(
      await h.call('POST', '/v1/events', `{"type":"${TYPE}","data":[1e131072]}`),
      422,
      'validation_failed',
      'data',
    );
  });
});

describe('authentication', () => {
  test.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('the scheme is case-insensitive: %s', async (scheme) => {
    const res = await h.call('GET', '/v1/event-types', undefined, { authorization: `${scheme} ${h.apiKey}` });
    expect(res.status).toBe(200);
  });

  test('a wrong key in any case is still 401', async () => {
    expectError(
      await h.call('GET', '/v1/event-types', undefined, { authorization: 'bearer nope' }),
      401,
      'unauthorized',
    );
  });
});

describe('405 with Allow', () => {
  test.each([
    ['PUT', '/v1/subscriptions', 'GET, HEAD, POST'],
    ['DELETE', '/v1/events', 'POST'],
    ['OPTIONS', '/v1/subscriptions/sub_x', 'GET, HEAD, PATCH, DELETE'],
    ['POST', '/v1/deliveries/dlv_x', 'GET, HEAD'],
    ['GET', '/v1/deliveries/dlv_x/cancel', 'POST'],
    ['PATCH', '/V1/Event-Types/', 'POST, GET, HEAD'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['DELETE', '/openapi.json', 'GET, HEAD'],
  ])('%s %s → 405, Allow: %s', async (method, path, allow) => {
    const res = await h.call(method, path);
    expectError(res, 405, 'method_not_allowed', 'method');
    expect(new Set(res.headers.get('allow')?.split(', '))).toEqual(new Set(allow.split(', ')));
  });

  test('TRACE (which fetch cannot send) too', async () => {
    const [response] = responsesIn(
      await rawExchange(`TRACE /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    expect(response?.status).toBe(405);
    expect(response?.headers).toMatch(/\r\nallow: POST\r\n/i);
    expect(response?.body.error.code).toBe('method_not_allowed');
  });

  test('an unknown path is still 404', async () => {
    expectError(await h.call('PUT', '/v1/nothing'), 404, 'not_found');
  });
});

describe('integers in decimal only', () => {
  test.each([
    '0x10',
    '0b11',
    '0o7',
    '1e1',
    '+5',
    '010',
    '5.0',
    ' 5',
    '5 ',
    '',
    '-1',
    '0',
    '101',
    '99999999999999999999',
  ])('limit=%p → 422 at query.limit', async (limit) => {
    expectError(
      await h.call('GET', `/v1/subscriptions?limit=${encodeURIComponent(limit)}`),
      422,
      'validation_failed',
      'query.limit',
    );
  });

  test('limit given twice → 422 saying so', async () => {
    const res = await h.call('GET', '/v1/deliveries?limit=1&limit=2');
    expectError(res, 422, 'validation_failed', 'query.limit');
    expect(res.body.error.details[0].message).toMatch(/once/);
  });

  test.each(['1', '50', '100'])('limit=%s is accepted', async (limit) => {
    expect((await h.call('GET', `/v1/api-keys?limit=${limit}`)).status).toBe(200);
  });
});

describe("errors of Node's HTTP parser, in the error shape", () => {
  test.each<[string, number, string]>([
    [
      'conflicting content lengths',
      400,
      `POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
    ],
    ['a folded header', 400, `GET /v1/event-types HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n`],
    ['a 16 KiB query', 431, `GET /v1/subscriptions?accountId=${'a'.repeat(16_384)} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['a bad chunk size', 400, `POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`],
    ['an unknown method', 400, `BREW /v1/events HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['not HTTP at all', 400, `\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03`],
  ])('%s → %i with a JSON error body', async (_what, status, request) => {
    const raw = await rawExchange(request);
    const [response] = responsesIn(raw);
    expect(response?.status).toBe(status);
    expect(response?.headers).toMatch(/content-type: application\/json/i);
    expect(response?.body).toEqual({
      error: {
        code: expect.any(String),
        message: expect.any(String),
        details: [{ path: 'request', message: expect.any(String) }],
      },
    });
  });

  test('a valid POST on a connection marked close, then stray bytes: its 202 is what the client hears, and the event is stored', async () => {
    const id = `stray-${Date.now()}`;
    const body = JSON.stringify({ id, type: TYPE, data: { n: 1 } });
    const raw = await rawExchange(
      `POST /v1/events HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}GARBAGE\r\n\r\n`,
    );
    const responses = responsesIn(raw);
    expect(responses.map((response) => response.status)).toEqual([202]);
    expect(responses[0]?.body).toMatchObject({ id });
    expect((await h.call('GET', `/v1/events/${id}`)).status).toBe(200);
  });

  test('the same with keep-alive: the first request is answered, then the connection closes', async () => {
    const id = `stray-ka-${Date.now()}`;
    const body = JSON.stringify({ id, type: TYPE, data: {} });
    const raw = await rawExchange(
      `POST /v1/events HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}NOT HTTP\r\n\r\n`,
    );
    expect(responsesIn(raw)[0]?.status).toBe(202);
    expect((await h.call('GET', `/v1/events/${id}`)).status).toBe(200);
  });
});

describe('timeouts', () => {
  test('the API server runs with the documented timeouts', () => {
    expect(h.api.server.headersTimeout).toBe(SERVER_TIMEOUTS.headersTimeoutMs);
    expect(h.api.server.requestTimeout).toBe(SERVER_TIMEOUTS.requestTimeoutMs);
    expect(h.api.server.keepAliveTimeout).toBe(SERVER_TIMEOUTS.keepAliveTimeoutMs);
    expect(SERVER_TIMEOUTS).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 65_000,
      checkingIntervalMs: 1_000,
    });
  });

  test('a client trickling headers or body is cut by the timeouts with a 408 in the error shape', async () => {
    const app = express();
    app.post('/slow', express.raw({ type: () => true }), (_req, res) => {
      res.json({ ok: true });
    });
    const server = createHttpServer(app, createLogger('silent'), {
      headersTimeoutMs: 500,
      requestTimeoutMs: 1_000,
      keepAliveTimeoutMs: 1_000,
      checkingIntervalMs: 100,
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const started = Date.now();
      const headers = responsesIn(await rawExchangeWith(port, 'POST /slow HTTP/1.1\r\nHost: x\r\n', 5_000));
      expect(headers.map((response) => response.status)).toEqual([408]);
      expect(headers[0]?.body.error.code).toBe('request_timeout');
      const body = responsesIn(
        await rawExchangeWith(port, 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a":', 5_000),
      );
      expect(body.map((response) => response.status)).toEqual([408]);
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

test('a client that hangs up mid-body is logged as one info line, without a stack', async () => {
  const before = logs.length;
  const { port } = h.api.server.address() as AddressInfo;
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    `POST /v1/events HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"type":`,
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  socket.destroy();
  const line = await waitFor(
    () =>
      logs
        .slice(before)
        .split('\n')
        .find((candidate) => candidate.includes('aborted')),
    'the log line of the aborted request',
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  const lines = logs
    .slice(before)
    .split('\n')
    .filter((candidate) => candidate.trim() !== '');
  expect(lines).toHaveLength(1);
  const parsed = JSON.parse(line);
  expect(parsed).toMatchObject({ level: 30, method: 'POST', path: '/v1/events' });
  expect(line).not.toMatch(/stack|"err"/);
});
