import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import {
  ConflictError,
  MalformedRequestError,
  NotFoundError,
  PayloadTooLargeError,
  type ServiceError,
  UnauthorizedError,
  UnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../src/errors';
import { errorHandler } from '../../src/api/errors';
import { createLogger } from '../../src/logger';
import { StoreUnavailableError } from '../../src/store/unavailable';

/** An Express app whose only route throws `error`, with the real error handler. */
async function answerTo(error: unknown): Promise<{ status: number; body: any; headers: Headers; logged: string }> {
  let logged = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logged += String(chunk);
      done();
    },
  });
  const app = express();
  app.get('/boom', () => {
    throw error;
  });
  app.use(errorHandler(createLogger('error', sink)));
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const response = await fetch(`http://127.0.0.1:${port}/boom`);
    return { status: response.status, body: await response.json(), headers: response.headers, logged };
  } finally {
    server.close();
  }
}

describe('error → HTTP', () => {
  test.each([
    [
      new ValidationError('invalid request body', [{ path: 'url', message: 'must use https://' }]),
      422,
      'validation_failed',
    ],
    [new MalformedRequestError('bad json'), 400, 'malformed_request'],
    [new UnauthorizedError('no key'), 401, 'unauthorized'],
    [new NotFoundError('subscription', 'sub_x'), 404, 'not_found'],
    [new ConflictError('taken', [{ path: 'id', message: 'already exists' }]), 409, 'conflict'],
    [new PayloadTooLargeError('too big'), 413, 'payload_too_large'],
    [new UnsupportedMediaTypeError('not json'), 415, 'unsupported_media_type'],
    [new UnavailableError('down'), 503, 'unavailable'],
  ] as Array<[ServiceError, number, string]>)('%p → %i %s', async (error, status, code) => {
    const answer = await answerTo(error);
    expect(answer.status).toBe(status);
    expect(answer.body).toEqual({ error: { code, message: error.message, details: [...error.details] } });
  });

  test('a 404 names the resource and id', async () => {
    const answer = await answerTo(new NotFoundError('delivery', 'dlv_123'));
    expect(answer.body.error.message).toBe("delivery 'dlv_123' not found");
  });

  test('a 503 says when to retry and logs the cause', async () => {
    const answer = await answerTo(new StoreUnavailableError(new Error('connect ECONNREFUSED')));
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('2');
    expect(answer.logged).toContain('ECONNREFUSED');
  });

  test('a 4xx is not logged as an error', async () => {
    const answer = await answerTo(new ValidationError('invalid', []));
    expect(answer.logged).toBe('');
  });

  test('body-parser failures map to 400, 413 and 415', async () => {
    const parse = await answerTo(
      Object.assign(new SyntaxError('Unexpected token'), { type: 'entity.parse.failed', status: 400 }),
    );
    expect(parse.status).toBe(400);
    expect(parse.body.error).toMatchObject({
      code: 'malformed_request',
      details: [{ path: 'body', message: 'is not valid JSON' }],
    });

    const large = await answerTo(
      Object.assign(new Error('request entity too large'), { type: 'entity.too.large', status: 413 }),
    );
    expect(large.status).toBe(413);
    expect(large.body.error.code).toBe('payload_too_large');

    const charset = await answerTo(
      Object.assign(new Error('unsupported charset'), { type: 'charset.unsupported', status: 415 }),
    );
    expect(charset.status).toBe(415);
    expect(charset.body.error.code).toBe('unsupported_media_type');
  });

  test('a path Express cannot decode is a 400', async () => {
    const answer = await answerTo(Object.assign(new URIError("Failed to decode param '%ZZ'"), { status: 400 }));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({
      code: 'malformed_request',
      details: [{ path: 'path', message: expect.any(String) }],
    });
  });

  test('anything else is a 500 that reveals nothing and is logged', async () => {
    const answer = await answerTo(new Error('secret internals at /srv/db'));
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ error: { code: 'internal', message: 'internal error', details: [] } });
    expect(answer.logged).toContain('secret internals');
  });
});
