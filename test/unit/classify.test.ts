import {
  attemptClassOf,
  classifyError,
  classifyResponse,
  describeError,
  parseRetryAfter,
} from '../../activities/classify';
import { TargetRefusedError } from '../../core/targets';

const now = Date.parse('2025-01-01T00:00:00Z');

describe('classifyResponse', () => {
  test.each([200, 201, 202, 204, 299])('%i is delivered', (status) => {
    expect(classifyResponse(status, undefined, now)).toEqual({ kind: 'delivered' });
  });

  test.each([300, 301, 302, 307, 308])('%i is retried: redirects are not followed', (status) => {
    expect(classifyResponse(status, undefined, now)).toMatchObject({
      kind: 'retry',
      reason: expect.stringContaining('redirects are not followed'),
    });
  });

  test.each([400, 401, 403, 404, 405, 410, 413, 415, 422, 451, 499])('%i is rejected for good', (status) => {
    expect(classifyResponse(status, undefined, now)).toEqual({
      kind: 'reject',
      reason: `receiver answered HTTP ${status}`,
    });
  });

  test.each([408, 429])('%i is retried: it means "later"', (status) => {
    expect(classifyResponse(status, undefined, now)).toMatchObject({
      kind: 'retry',
      reason: `receiver answered HTTP ${status}`,
    });
  });

  test.each([500, 502, 503, 504, 599])('%i is retried', (status) => {
    expect(classifyResponse(status, undefined, now)).toMatchObject({
      kind: 'retry',
      reason: `receiver answered HTTP ${status}`,
    });
  });

  test.each([429, 503])('Retry-After in seconds is honoured on %i', (status) => {
    expect(classifyResponse(status, '120', now)).toEqual({
      kind: 'retry',
      reason: `receiver answered HTTP ${status}`,
      retryAfterMs: 120_000,
    });
  });

  test.each([429, 503])('Retry-After as an HTTP date is honoured on %i', (status) => {
    const outcome = classifyResponse(status, 'Wed, 01 Jan 2025 00:05:00 GMT', now);
    expect(outcome).toMatchObject({ kind: 'retry', retryAfterMs: 5 * 60_000 });
  });

  test.each([408, 500, 502, 504, 301])('Retry-After is ignored on %i', (status) => {
    const outcome = classifyResponse(status, '120', now);
    expect(outcome.kind).toBe('retry');
    expect(outcome).not.toMatchObject({ retryAfterMs: expect.anything() });
  });

  test('an unusable Retry-After falls back to the backoff', () => {
    expect(classifyResponse(503, 'soon', now)).toMatchObject({ kind: 'retry', retryAfterMs: undefined });
    expect(classifyResponse(429, '-5', now)).toMatchObject({ kind: 'retry', retryAfterMs: undefined });
  });
});

describe('parseRetryAfter', () => {
  test('delta-seconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(' 30 ', now)).toBe(30_000);
  });

  test('an HTTP date, never negative', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
  });

  test('the obsolete RFC 850 and asctime date forms', () => {
    expect(parseRetryAfter('Wednesday, 01-Jan-25 00:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wed Jan  1 00:02:00 2025', now)).toBe(120_000);
  });

  test('absent or unusable', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('later', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('3 2', now)).toBeUndefined();
    expect(parseRetryAfter('2025-01-01T00:05:00Z', now)).toBeUndefined();
  });
});

describe('classifyError', () => {
  test('network errors are retried and described with their code and cause', () => {
    const error = Object.assign(new Error('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') }), {
      code: 'UND_ERR_CONNECT',
    });
    expect(classifyError(error)).toEqual({
      kind: 'retry',
      reason: 'UND_ERR_CONNECT: fetch failed: connect ECONNREFUSED 127.0.0.1:1',
    });
  });

  test('anything thrown is described', () => {
    expect(describeError('boom')).toBe('boom');
    expect(describeError(new Error('timeout'))).toBe('timeout');
  });
});

describe('attemptClassOf (the attempt classes of the metrics)', () => {
  test.each([
    [200, '2xx'],
    [299, '2xx'],
    [302, '3xx'],
    [404, '4xx'],
    [429, '4xx'],
    [500, '5xx'],
    [503, '5xx'],
  ] as const)('status %i is %s', (statusCode, expected) => {
    expect(attemptClassOf({ statusCode })).toBe(expected);
  });

  test("the attempt's deadline and transport timeouts are timeouts, however wrapped", () => {
    const deadline = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(attemptClassOf({ statusCode: undefined, error: deadline })).toBe('timeout');
    for (const code of ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']) {
      const error = Object.assign(new Error('timed out'), { code });
      expect(attemptClassOf({ statusCode: undefined, error })).toBe('timeout');
      expect(attemptClassOf({ statusCode: undefined, error: new Error('fetch failed', { cause: error }) })).toBe(
        'timeout',
      );
    }
  });

  test('other failures without an answer are network failures; a refusal by the target rules is refused', () => {
    const refusedConnection = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(attemptClassOf({ statusCode: undefined, error: refusedConnection })).toBe('network');
    expect(attemptClassOf({ statusCode: undefined, error: 'boom' })).toBe('network');
    const rules = new TargetRefusedError('127.0.0.1 is a loopback address');
    expect(attemptClassOf({ statusCode: undefined, error: rules, refused: true })).toBe('refused');
  });
});
