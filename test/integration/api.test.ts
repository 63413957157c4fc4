/**
 * The HTTP contract of the API: auth, the OpenAPI document, validation and the error shape
 * `{ error: { code, message, details: [{ path, message }] } }`, 404s and 409s, and that a
 * rejected request writes nothing. No worker runs: deliveries stay pending.
 */
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { apiRoutes, type AppDeps } from '../../src/api/app';
import { startApiServer, type ApiServer } from '../../src/api/server';
import { createLogger } from '../../src/logger';
import { newId } from '../../core/ids';
import { UnavailableError } from '../../src/errors';
import { DeliveryControl } from '../../src/temporal/delivery-control';
import { startHarness, type ApiAnswer, type Harness } from '../helpers/harness';
import { createTestTemporal } from '../helpers/temporal-env';
import { FRESH_HEALTH } from '../helpers/expected';

/** A gRPC interceptor, as the Temporal client's connection takes them. */
type GrpcInterceptor = NonNullable<ConnectionOptions['interceptors']>[number];

let env: TestWorkflowEnvironment;
let h: Harness;

const EVENT_TYPES = ['order.created', 'order.paid', 'resident.moved'];

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env, worker: false });
  for (const id of EVENT_TYPES) {
    const res = await h.call('POST', '/v1/event-types', { id, description: `${id} happened` });
    expect(res.status).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  await h?.close();
  await env?.teardown();
});

/** Expects the error shape with `status` and `code`, and a detail naming each of `paths`. */
function expectError(res: ApiAnswer, status: number, code: string, paths: string[] = []): void {
  expect({ status: res.status, body: res.body }).toEqual({
    status,
    body: { error: { code, message: expect.any(String), details: expect.any(Array) } },
  });
  for (const detail of res.body.error.details)
    expect(detail).toEqual({ path: expect.any(String), message: expect.any(String) });
  const named = res.body.error.details.map((detail: { path: string }) => detail.path);
  for (const path of paths) expect(named).toContain(path);
}

const VALID_SUBSCRIPTION = { url: 'https://hooks.example.com/in', eventTypes: ['order.created'] };

/** A newly registered event type, so that no other test's subscriptions match its events. */
async function freshType(): Promise<string> {
  const id = `fresh.${Date.now()}.${Math.random().toString(36).slice(2, 8)}`;
  expect((await h.call('POST', '/v1/event-types', { id })).status).toBe(201);
  return id;
}

async function createSubscription(extra: Record<string, unknown> = {}): Promise<any> {
  const res = await h.call('POST', '/v1/subscriptions', { ...VALID_SUBSCRIPTION, ...extra });
  expect(res.status).toBe(201);
  return res.body;
}

/** Every subscription, all pages. */
async function allSubscriptions(): Promise<unknown[]> {
  const all: unknown[] = [];
  let cursor: string | null = null;
  do {
    const res: ApiAnswer = await h.call('GET', `/v1/subscriptions?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    all.push(...res.body.data);
    cursor = res.body.nextCursor;
  } while (cursor);
  return all;
}

describe('auth, health and the OpenAPI document', () => {
  test.each([
    ['no key', {}],
    ['a wrong key', { authorization: 'Bearer not-the-key' }],
    ['another scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ])('%s → 401 with the error shape', async (_what, headers) => {
    const res = await h.call('GET', '/v1/subscriptions', undefined, { authorization: '', ...headers });
    expectError(res, 401, 'unauthorized');
  });

  test('a bad key is refused before the body is read', async () => {
    const res = await h.call('POST', '/v1/subscriptions', '{not json', { authorization: 'Bearer wrong' });
    expectError(res, 401, 'unauthorized');
  });

  test('/healthz needs no key and reports each check', async () => {
    const res = await h.call('GET', '/healthz', undefined, { authorization: '' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', checks: { store: true, temporal: true } });
  });

  test('an unknown route is a 404 with the error shape', async () => {
    expectError(await h.call('GET', '/v1/nothing-here'), 404, 'not_found');
  });

  test('/openapi.json is OpenAPI 3.1 and lists every route', async () => {
    const res = await h.call('GET', '/openapi.json', undefined, { authorization: '' });
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    // Every route the app mounts (declarations only: no handler runs, so no dependency is needed).
    const mounted = apiRoutes({} as AppDeps);
    expect(operations.sort()).toEqual(
      mounted.map((spec) => `${spec.method.toUpperCase()} ${spec.path.replace(/:([A-Za-z]+)/g, '{$1}')}`).sort(),
    );
    for (const spec of mounted.filter((candidate) => candidate.body)) {
      expect(
        doc.paths[spec.path.replace(/:([A-Za-z]+)/g, '{$1}')][spec.method].requestBody.content['application/json']
          .schema,
      ).toBeDefined();
    }
    expect(operations).toEqual(
      expect.arrayContaining([
        'POST /v1/event-types',
        'GET /v1/event-types',
        'POST /v1/subscriptions',
        'GET /v1/subscriptions',
        'GET /v1/subscriptions/{id}',
        'GET /v1/subscriptions/{id}/secret',
        'PATCH /v1/subscriptions/{id}',
        'DELETE /v1/subscriptions/{id}',
        'POST /v1/events',
        'GET /v1/events/{id}',
        'GET /v1/deliveries',
        'GET /v1/deliveries/{id}',
        'POST /v1/deliveries/{id}/cancel',
        'POST /v1/deliveries/{id}/resend',
      ]),
    );
    expect(doc.components.schemas.Error).toBeDefined();
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer' });
  });

  test('request schemas are in the document: POST /v1/subscriptions requires url and eventTypes, and nothing else', async () => {
    const doc = (await h.call('GET', '/openapi.json')).body;
    // Bodies and answers are components, referenced by $ref.
    const deref = (schema: any): any =>
      schema.$ref ? doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')] : schema;
    const create = doc.paths['/v1/subscriptions'].post;
    const schema = deref(create.requestBody.content['application/json'].schema);
    expect(schema.type).toBe('object');
    expect([...schema.required].sort()).toEqual(['eventTypes', 'url']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining([
        'url',
        'eventTypes',
        'accountId',
        'active',
        'description',
        'headers',
        'secret',
        'retryPolicy',
      ]),
    );
    expect(deref(schema.properties.retryPolicy).additionalProperties).toBe(false);
    expect(deref(create.responses['201'].content['application/json'].schema).properties.secret).toBeDefined();
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['400', '401', '413', '415', '422']));

    for (const [path, method] of [
      ['/v1/event-types', 'post'],
      ['/v1/events', 'post'],
      ['/v1/subscriptions/{id}', 'patch'],
    ] as const) {
      expect(deref(doc.paths[path][method].requestBody.content['application/json'].schema).additionalProperties).toBe(
        false,
      );
    }
    const deliveryParams = doc.paths['/v1/deliveries'].get.parameters.map(
      (param: { name: string; in: string }) => `${param.in}:${param.name}`,
    );
    expect(deliveryParams).toEqual(
      expect.arrayContaining(['query:status', 'query:eventId', 'query:cursor', 'query:limit']),
    );
    expect(doc.paths['/v1/deliveries/{id}'].get.parameters).toEqual([
      { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
    ]);
  });
});

describe('event types', () => {
  test('create → 201, duplicate → 409, list', async () => {
    const res = await h.call('POST', '/v1/event-types', { id: 'invoice.issued' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: 'invoice.issued', description: '', createdAt: expect.any(String) });
    expectError(
      await h.call('POST', '/v1/event-types', { id: 'invoice.issued', description: 'again' }),
      409,
      'conflict',
      ['id'],
    );

    const list = await h.call('GET', '/v1/event-types');
    expect(list.status).toBe(200);
    expect(list.body.data.map((type: { id: string }) => type.id)).toEqual(
      expect.arrayContaining([...EVENT_TYPES, 'invoice.issued']),
    );
    expect(list.body.data.find((type: { id: string }) => type.id === 'order.created').description).toBe(
      'order.created happened',
    );
  });

  test.each([
    ['a bad id', { id: 'has spaces!' }, ['id']],
    ['an empty id', { id: '' }, ['id']],
    ['a numeric id', { id: 42 }, ['id']],
    ['no id', {}, ['id']],
    ['an unknown field', { id: 'x.y', colour: 'red' }, ['body']],
    ['a long description', { id: 'x.y', description: 'd'.repeat(1025) }, ['description']],
  ])('%s → 422', async (_what, body, paths) => {
    expectError(await h.call('POST', '/v1/event-types', body), 422, 'validation_failed', paths);
  });
});

describe('subscriptions', () => {
  test('create → 201 with a whsec_ secret and the defaults', async () => {
    const res = await h.call('POST', '/v1/subscriptions', VALID_SUBSCRIPTION);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^sub_[0-9a-z]{26}$/),
      url: 'https://hooks.example.com/in',
      eventTypes: ['order.created'],
      accountId: null,
      active: true,
      paused: false,
      throttleRate: null,
      description: '',
      headers: {},
      retryPolicy: {
        initialInterval: '10s',
        backoffCoefficient: 2,
        maximumInterval: '1h',
        maximumAttempts: null,
        maxDuration: '48h',
      },
      health: FRESH_HEALTH,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]+=*$/),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const secret = await h.call('GET', `/v1/subscriptions/${res.body.id}/secret`);
    expect(secret).toMatchObject({ status: 200, body: { secret: res.body.secret } });
    const got = await h.call('GET', `/v1/subscriptions/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty('secret');
    const { secret: _secret, ...withoutSecret } = res.body;
    expect(got.body).toEqual(withoutSecret);
  });

  test('a given secret is kept; every field is stored', async () => {
    const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    const sub = await createSubscription({
      secret,
      accountId: 'acct-1',
      description: 'orders for acct-1',
      active: false,
      headers: { 'X-Tenant': 'acme' },
      eventTypes: ['order.created', 'order.paid', 'order.created'],
      retryPolicy: { initialInterval: '5m', backoffCoefficient: 1, maximumAttempts: 15 },
    });
    expect(sub).toMatchObject({
      secret,
      accountId: 'acct-1',
      description: 'orders for acct-1',
      active: false,
      headers: { 'X-Tenant': 'acme' },
      eventTypes: ['order.created', 'order.paid'],
      retryPolicy: {
        initialInterval: '5m',
        backoffCoefficient: 1,
        maximumInterval: '1h',
        maximumAttempts: 15,
        maxDuration: '48h',
      },
    });
    expect((await h.call('GET', `/v1/subscriptions/${sub.id}/secret`)).body.secret).toBe(secret);
  });

  test('"*" subscribes to every event type', async () => {
    const sub = await createSubscription({ eventTypes: ['*'], accountId: 'acct-everything' });
    expect(sub.eventTypes).toEqual(['*']);
  });

  describe('validation: 422 naming the field, nothing written', () => {
    let before: unknown[];
    beforeAll(async () => {
      before = await allSubscriptions();
    });
    afterEach(async () => {
      expect(await allSubscriptions()).toEqual(before);
    });

    test.each<[string, unknown, string[]]>([
      ['no body at all', {}, ['url', 'eventTypes']],
      ['an array body', [], ['body']],
      ['an unknown field', { ...VALID_SUBSCRIPTION, colour: 'red' }, ['body']],
      ['url of the wrong type', { ...VALID_SUBSCRIPTION, url: 42 }, ['url']],
      ['eventTypes of the wrong type', { ...VALID_SUBSCRIPTION, eventTypes: 'order.created' }, ['eventTypes']],
      ['active of the wrong type', { ...VALID_SUBSCRIPTION, active: 'yes' }, ['active']],
      ['headers of the wrong type', { ...VALID_SUBSCRIPTION, headers: ['x'] }, ['headers']],
      ['a header value of the wrong type', { ...VALID_SUBSCRIPTION, headers: { 'x-n': 1 } }, ['headers.x-n']],
      ['a relative url', { ...VALID_SUBSCRIPTION, url: '/hooks' }, ['url']],
      ['a url that is not one', { ...VALID_SUBSCRIPTION, url: 'not a url' }, ['url']],
      ['an ftp url', { ...VALID_SUBSCRIPTION, url: 'ftp://example.com/in' }, ['url']],
      ['a url with credentials', { ...VALID_SUBSCRIPTION, url: 'https://user:pw@example.com/in' }, ['url']],
      ['a url with a fragment', { ...VALID_SUBSCRIPTION, url: 'https://example.com/in#x' }, ['url']],
      ['an overlong url', { ...VALID_SUBSCRIPTION, url: `https://example.com/${'a'.repeat(2100)}` }, ['url']],
      ['an unknown event type', { ...VALID_SUBSCRIPTION, eventTypes: ['nope.never'] }, ['eventTypes.0']],
      [
        'an unknown event type after a known one',
        { ...VALID_SUBSCRIPTION, eventTypes: ['order.created', 'nope.never'] },
        ['eventTypes.1'],
      ],
      ['no event types', { ...VALID_SUBSCRIPTION, eventTypes: [] }, ['eventTypes']],
      ['"*" with others', { ...VALID_SUBSCRIPTION, eventTypes: ['*', 'order.created'] }, ['eventTypes']],
      ['a malformed event type', { ...VALID_SUBSCRIPTION, eventTypes: ['bad type'] }, ['eventTypes.0']],
      ['a bad accountId', { ...VALID_SUBSCRIPTION, accountId: 'a b' }, ['accountId']],
      ['an invalid secret', { ...VALID_SUBSCRIPTION, secret: 'hunter2' }, ['secret']],
      ['a short secret', { ...VALID_SUBSCRIPTION, secret: `whsec_${Buffer.alloc(8).toString('base64')}` }, ['secret']],
      [
        'a header value with CR/LF',
        { ...VALID_SUBSCRIPTION, headers: { 'x-evil': 'a\r\nx-injected: 1' } },
        ['headers.x-evil'],
      ],
      ['a header value with LF', { ...VALID_SUBSCRIPTION, headers: { 'x-evil': 'a\nb' } }, ['headers.x-evil']],
      [
        'a header name that is not a token',
        { ...VALID_SUBSCRIPTION, headers: { 'bad name': 'v' } },
        ['headers.bad name'],
      ],
      [
        'reserved header content-type',
        { ...VALID_SUBSCRIPTION, headers: { 'Content-Type': 'text/plain' } },
        ['headers.Content-Type'],
      ],
      ['reserved header webhook-id', { ...VALID_SUBSCRIPTION, headers: { 'webhook-id': 'x' } }, ['headers.webhook-id']],
      [
        'reserved header webhook-signature',
        { ...VALID_SUBSCRIPTION, headers: { 'Webhook-Signature': 'v1,x' } },
        ['headers.Webhook-Signature'],
      ],
      ['reserved header host', { ...VALID_SUBSCRIPTION, headers: { host: 'evil.example.com' } }, ['headers.host']],
      [
        'too many headers',
        { ...VALID_SUBSCRIPTION, headers: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`x-h${i}`, 'v'])) },
        ['headers'],
      ],
      [
        'retryPolicy.maxDuration over 48h',
        { ...VALID_SUBSCRIPTION, retryPolicy: { maxDuration: '49h' } },
        ['retryPolicy.maxDuration'],
      ],
      [
        'retryPolicy.maxDuration of 3d',
        { ...VALID_SUBSCRIPTION, retryPolicy: { maxDuration: '3d' } },
        ['retryPolicy.maxDuration'],
      ],
      [
        'retryPolicy.maxDuration not a duration',
        { ...VALID_SUBSCRIPTION, retryPolicy: { maxDuration: 'forever' } },
        ['retryPolicy.maxDuration'],
      ],
      [
        'retryPolicy.initialInterval under 1s',
        { ...VALID_SUBSCRIPTION, retryPolicy: { initialInterval: '500ms' } },
        ['retryPolicy.initialInterval'],
      ],
      [
        'retryPolicy.maximumInterval under initialInterval',
        { ...VALID_SUBSCRIPTION, retryPolicy: { initialInterval: '10m', maximumInterval: '1m' } },
        ['retryPolicy.maximumInterval'],
      ],
      [
        'retryPolicy.backoffCoefficient under 1',
        { ...VALID_SUBSCRIPTION, retryPolicy: { backoffCoefficient: 0.5 } },
        ['retryPolicy.backoffCoefficient'],
      ],
      [
        'a retryPolicy that would make ~170,000 attempts (every second for 48 h)',
        { ...VALID_SUBSCRIPTION, retryPolicy: { initialInterval: '1s', backoffCoefficient: 1, maximumInterval: '1s' } },
        ['retryPolicy'],
      ],
      [
        'retryPolicy.maximumAttempts of 0',
        { ...VALID_SUBSCRIPTION, retryPolicy: { maximumAttempts: 0 } },
        ['retryPolicy.maximumAttempts'],
      ],
      [
        'retryPolicy.maximumAttempts not an integer',
        { ...VALID_SUBSCRIPTION, retryPolicy: { maximumAttempts: 1.5 } },
        ['retryPolicy.maximumAttempts'],
      ],
      ['an unknown retryPolicy field', { ...VALID_SUBSCRIPTION, retryPolicy: { jitter: true } }, ['retryPolicy']],
      ['retryPolicy of the wrong type', { ...VALID_SUBSCRIPTION, retryPolicy: 'aggressive' }, ['retryPolicy']],
    ])('%s', async (_what, body, paths) => {
      expectError(await h.call('POST', '/v1/subscriptions', body), 422, 'validation_failed', paths);
    });

    test('an unknown field is named in the message', async () => {
      const res = await h.call('POST', '/v1/subscriptions', { ...VALID_SUBSCRIPTION, colour: 'red' });
      expect(res.body.error.details).toEqual([{ path: 'body', message: expect.stringContaining('colour') }]);
    });

    test('malformed JSON → 400', async () => {
      expectError(
        await h.call('POST', '/v1/subscriptions', '{"url": "https://example.com",'),
        400,
        'malformed_request',
        ['body'],
      );
      // Well-formed JSON that is not an object is no malformed request: a 422, like any other broken rule.
      expectError(await h.call('POST', '/v1/subscriptions', 'null'), 422, 'validation_failed', ['body']);
    });

    test('a body that is not JSON → 415', async () => {
      const res = await h.call('POST', '/v1/subscriptions', 'url=https://example.com', {
        'content-type': 'application/x-www-form-urlencoded',
      });
      expectError(res, 415, 'unsupported_media_type', ['content-type']);
      expectError(
        await h.call('POST', '/v1/subscriptions', JSON.stringify(VALID_SUBSCRIPTION), { 'content-type': 'text/plain' }),
        415,
        'unsupported_media_type',
      );
    });

    test('a body over 1 MiB → 413', async () => {
      const res = await h.call('POST', '/v1/subscriptions', {
        ...VALID_SUBSCRIPTION,
        description: 'x'.repeat(1024 * 1024 + 1),
      });
      expectError(res, 413, 'payload_too_large');
    });
  });

  test('http:// targets are refused when insecure targets are not allowed', async () => {
    // The harness allows them; a second API over the same store and Temporal does not.
    const strict: ApiServer = await startApiServer({
      client: h.client,
      store: h.store,
      logger: createLogger('silent'),
      port: 0,
      host: '127.0.0.1',
      apiKeys: [h.apiKey],
      taskQueue: h.taskQueue,
      attemptTimeoutMs: 1_000,
      maxBodyBytes: 1024 * 1024,
      temporalUiUrl: 'http://localhost:8233',
      targets: { allowInsecure: false },
      relay: false,
    });
    try {
      const post = (path: string, body: unknown) =>
        fetch(`${strict.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${h.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }).then(async (response): Promise<ApiAnswer> => ({
          status: response.status,
          body: await response.json(),
          headers: response.headers,
        }));
      const insecure = await post('/v1/subscriptions', { ...VALID_SUBSCRIPTION, url: 'http://127.0.0.1:4000/in' });
      expectError(insecure, 422, 'validation_failed', ['url']);
      expect(insecure.body.error.details[0].message).toMatch(/https:\/\//);
      const callback = await post('/v1/events', {
        type: 'order.created',
        data: {},
        callbackUrl: 'http://127.0.0.1:4000/cb',
      });
      expectError(callback, 422, 'validation_failed', ['callbackUrl']);
    } finally {
      await strict.close();
    }
  });

  test('GET, PATCH, DELETE and /secret of an unknown id → 404', async () => {
    for (const id of [newId('sub'), 'not-an-id', 'sub_x']) {
      expectError(await h.call('GET', `/v1/subscriptions/${id}`), 404, 'not_found');
      expectError(await h.call('GET', `/v1/subscriptions/${id}/secret`), 404, 'not_found');
      expectError(await h.call('PATCH', `/v1/subscriptions/${id}`, { active: false }), 404, 'not_found');
      expectError(await h.call('DELETE', `/v1/subscriptions/${id}`), 404, 'not_found');
    }
  });

  test('PATCH changes url and headers; the rest stays', async () => {
    const sub = await createSubscription({ headers: { 'x-a': '1' }, description: 'keep me' });
    const res = await h.call('PATCH', `/v1/subscriptions/${sub.id}`, {
      url: 'https://moved.example.com/in',
      headers: { 'x-b': '2' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: sub.id,
      url: 'https://moved.example.com/in',
      headers: { 'x-b': '2' },
      description: 'keep me',
      eventTypes: ['order.created'],
    });
    expect(res.body).not.toHaveProperty('secret');
    expect((await h.call('GET', `/v1/subscriptions/${sub.id}`)).body).toEqual(res.body);
    expect((await h.call('GET', `/v1/subscriptions/${sub.id}/secret`)).body.secret).toBe(sub.secret);
  });

  test('PATCH retryPolicy merges with the current one; null maximumAttempts lifts the limit', async () => {
    const sub = await createSubscription({
      retryPolicy: { initialInterval: '5m', backoffCoefficient: 1, maximumAttempts: 15 },
    });
    const res = await h.call('PATCH', `/v1/subscriptions/${sub.id}`, { retryPolicy: { maximumAttempts: null } });
    expect(res.status).toBe(200);
    expect(res.body.retryPolicy).toEqual({
      initialInterval: '5m',
      backoffCoefficient: 1,
      maximumInterval: '1h',
      maximumAttempts: null,
      maxDuration: '48h',
    });
  });

  test('PATCH refuses what create refuses, and changes nothing then', async () => {
    const sub = await createSubscription();
    const cases: Array<[unknown, string]> = [
      [{ url: 'https://user:pw@example.com/' }, 'url'],
      [{ eventTypes: ['nope.never'] }, 'eventTypes.0'],
      [{ headers: { 'webhook-id': 'x' } }, 'headers.webhook-id'],
      [{ retryPolicy: { maxDuration: '49h' } }, 'retryPolicy.maxDuration'],
      [{ active: 'no' }, 'active'],
      [{ secret: `whsec_${Buffer.alloc(32).toString('base64')}` }, 'body'],
      [{ accountId: 'acct-2' }, 'body'],
    ];
    for (const [body, path] of cases) {
      expectError(await h.call('PATCH', `/v1/subscriptions/${sub.id}`, body), 422, 'validation_failed', [path]);
    }
    const { secret: _secret, ...unchanged } = sub;
    expect((await h.call('GET', `/v1/subscriptions/${sub.id}`)).body).toEqual(unchanged);
  });

  test('DELETE → 204, then 404', async () => {
    const sub = await createSubscription();
    const res = await h.call('DELETE', `/v1/subscriptions/${sub.id}`);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    expectError(await h.call('GET', `/v1/subscriptions/${sub.id}`), 404, 'not_found');
    expectError(await h.call('DELETE', `/v1/subscriptions/${sub.id}`), 404, 'not_found');
  });

  test('list filters by eventType (with "*"), accountId and active, and pages with a cursor', async () => {
    const accountId = `acct-list-${Date.now()}`;
    const orders = await createSubscription({ accountId });
    const moves = await createSubscription({ accountId, eventTypes: ['resident.moved'] });
    const every = await createSubscription({ accountId, eventTypes: ['*'] });
    const off = await createSubscription({ accountId, active: false });
    const ids = async (query: string): Promise<string[]> => {
      const res = await h.call('GET', `/v1/subscriptions?accountId=${accountId}${query}`);
      expect(res.status).toBe(200);
      return res.body.data.map((sub: { id: string }) => sub.id);
    };
    expect(await ids('')).toEqual([orders.id, moves.id, every.id, off.id]);
    expect(await ids('&eventType=resident.moved')).toEqual([moves.id, every.id]);
    expect(await ids('&eventType=order.created&active=true')).toEqual([orders.id, every.id]);
    expect(await ids('&active=false')).toEqual([off.id]);

    const first = await h.call('GET', `/v1/subscriptions?accountId=${accountId}&limit=3`);
    expect(first.body.data).toHaveLength(3);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await h.call(
      'GET',
      `/v1/subscriptions?accountId=${accountId}&limit=3&cursor=${first.body.nextCursor}`,
    );
    expect(second.body).toMatchObject({ nextCursor: null });
    expect(second.body.data.map((sub: { id: string }) => sub.id)).toEqual([off.id]);
  });

  test.each([
    ['limit=0', ['query.limit']],
    ['limit=101', ['query.limit']],
    ['limit=ten', ['query.limit']],
    ['active=yes', ['query.active']],
    ['colour=red', ['query']],
    ['cursor=not-a-cursor', ['query.cursor']],
  ])('list with %s → 422', async (query, paths) => {
    expectError(await h.call('GET', `/v1/subscriptions?${query}`), 422, 'validation_failed', paths);
  });
});

describe('events', () => {
  test('publish → 202 with the delivery count; GET shows the payload and counts by status', async () => {
    const type = await freshType();
    const accountId = `acct-evt-${Date.now()}`;
    await createSubscription({ eventTypes: [type], accountId });
    await createSubscription({ eventTypes: ['*'], accountId });
    const res = await h.call('POST', '/v1/events', { type, accountId, data: { residentId: 7, to: 'B-12' } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^evt_/),
      type,
      accountId,
      createdAt: expect.any(String),
      deliveryCount: 2,
    });

    const got = await h.call('GET', `/v1/events/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual({
      id: res.body.id,
      type,
      accountId,
      data: { residentId: 7, to: 'B-12' },
      callbackUrl: null,
      createdAt: res.body.createdAt,
      deliveries: { total: 2, pending: 2, succeeded: 0, failed: 0, cancelled: 0 },
    });
  });

  test('a callbackUrl gets its own delivery and a callbackSecret, the same in every answer', async () => {
    const id = `cb-${Date.now()}`;
    const body = { id, type: await freshType(), data: null, callbackUrl: 'https://caller.example.com/cb' };
    const res = await h.call('POST', '/v1/events', body);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id, deliveryCount: 1, callbackSecret: expect.stringMatching(/^whsec_/) });
    const again = await h.call('POST', '/v1/events', body);
    expect(again.status).toBe(202);
    expect(again.body).toEqual(res.body);
  });

  test('the same id again is idempotent; with a different body it is a 409', async () => {
    const id = `order-${Date.now()}`;
    const body = { id, type: 'order.paid', data: { a: 1, b: [1, 2] } };
    const first = await h.call('POST', '/v1/events', body);
    expect(first.status).toBe(202);
    const again = await h.call('POST', '/v1/events', { data: { b: [1, 2], a: 1 }, type: 'order.paid', id });
    expect(again).toMatchObject({
      status: 202,
      body: { id, deliveryCount: first.body.deliveryCount, createdAt: first.body.createdAt },
    });
    expectError(await h.call('POST', '/v1/events', { ...body, data: { a: 2 } }), 409, 'conflict', ['id']);
    expect((await h.call('GET', `/v1/events/${id}`)).body.data).toEqual({ a: 1, b: [1, 2] });
  });

  test('the Idempotency-Key header names the event', async () => {
    const key = `idem-${Date.now()}`;
    const res = await h.call('POST', '/v1/events', { type: 'order.paid', data: {} }, { 'idempotency-key': key });
    expect(res).toMatchObject({ status: 202, body: { id: key } });
    expectError(
      await h.call('POST', '/v1/events', { id: 'other', type: 'order.paid', data: {} }, { 'idempotency-key': key }),
      422,
      'validation_failed',
      ['id'],
    );
    expectError(
      await h.call('POST', '/v1/events', { type: 'order.paid', data: {} }, { 'idempotency-key': 'bad key!' }),
      422,
      'validation_failed',
      ['headers.idempotency-key'],
    );
  });

  test.each<[string, unknown, string[]]>([
    ['an unknown type', { type: 'nope.never', data: {} }, ['type']],
    ['a malformed type', { type: 'bad type', data: {} }, ['type']],
    ['missing data', { type: 'order.created' }, ['data']],
    ['no type', { data: {} }, ['type']],
    ['an unknown field', { type: 'order.created', data: {}, extra: 1 }, ['body']],
    ['a bad accountId', { type: 'order.created', data: {}, accountId: 'a/b' }, ['accountId']],
    [
      'a callbackUrl with credentials',
      { type: 'order.created', data: {}, callbackUrl: 'https://u:p@example.com/' },
      ['callbackUrl'],
    ],
    ['a callbackUrl that is not a URL', { type: 'order.created', data: {}, callbackUrl: 'nope' }, ['callbackUrl']],
  ])('%s → 422, nothing stored', async (_what, body, paths) => {
    const id = `rejected-${Math.random().toString(36).slice(2)}`;
    expectError(await h.call('POST', '/v1/events', { id, ...(body as object) }), 422, 'validation_failed', paths);
    expectError(await h.call('GET', `/v1/events/${id}`), 404, 'not_found');
  });

  test('malformed JSON → 400', async () => {
    expectError(await h.call('POST', '/v1/events', '{"type":'), 400, 'malformed_request', ['body']);
  });

  test('an unknown event → 404', async () => {
    expectError(await h.call('GET', `/v1/events/${newId('evt')}`), 404, 'not_found');
    expectError(await h.call('GET', '/v1/events/no-such-event'), 404, 'not_found');
  });
});

describe('deliveries', () => {
  test('list filters by event and status', async () => {
    const accountId = `acct-dlv-${Date.now()}`;
    const type = await freshType();
    const sub = await createSubscription({ eventTypes: [type], accountId });
    const event = (await h.call('POST', '/v1/events', { type, accountId, data: { n: 1 } })).body;
    const res = await h.call('GET', `/v1/deliveries?eventId=${event.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      data: [
        expect.objectContaining({
          id: expect.stringMatching(/^dlv_/),
          eventId: event.id,
          eventType: type,
          subscriptionId: sub.id,
          accountId,
          url: VALID_SUBSCRIPTION.url,
          status: 'pending',
          attemptCount: 0,
          attempts: [],
          temporalUiUrl: expect.stringContaining('http://localhost:8233/namespaces/'),
        }),
      ],
      nextCursor: null,
    });
    const delivery = res.body.data[0];
    expect((await h.call('GET', `/v1/deliveries/${delivery.id}`)).body).toMatchObject({
      id: delivery.id,
      status: 'pending',
    });
    expect(
      (await h.call('GET', `/v1/deliveries?subscriptionId=${sub.id}&status=pending`)).body.data.map(
        (d: { id: string }) => d.id,
      ),
    ).toEqual([delivery.id]);
    expect((await h.call('GET', `/v1/deliveries?eventId=${event.id}&status=succeeded`)).body.data).toEqual([]);
  });

  test.each([
    ['status=bogus', ['query.status']],
    ['status=', ['query.status']],
    ['limit=-1', ['query.limit']],
    ['cursor=%%%', ['query.cursor']],
    ['unknown=1', ['query']],
  ])('list with %s → 422', async (query, paths) => {
    expectError(await h.call('GET', `/v1/deliveries?${query}`), 422, 'validation_failed', paths);
  });

  test('reads embed the last 20 attempts; /attempts pages through every one', async () => {
    const type = await freshType();
    await createSubscription({ eventTypes: [type] });
    const event = (await h.call('POST', '/v1/events', { type, data: {} })).body;
    const { id } = (await h.call('GET', `/v1/deliveries?eventId=${event.id}`)).body.data[0];
    for (let n = 1; n <= 25; n += 1) {
      await h.store.deliveries.recordAttempt(id, {
        startedAt: new Date(),
        durationMs: n,
        statusCode: 500,
        error: 'receiver answered HTTP 500',
        responseBody: null,
        url: VALID_SUBSCRIPTION.url,
        nextAttemptAt: null,
      });
    }
    const numbers = (attempts: Array<{ attempt: number }>): number[] => attempts.map((a) => a.attempt);
    const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    const read = (await h.call('GET', `/v1/deliveries/${id}`)).body;
    expect(read.attemptCount).toBe(25);
    expect(numbers(read.attempts)).toEqual(range(6, 25));
    const listed = (await h.call('GET', `/v1/deliveries?eventId=${event.id}`)).body.data[0];
    expect(numbers(listed.attempts)).toEqual(range(6, 25));

    const pages: number[][] = [];
    let cursor: string | null = null;
    do {
      const page: ApiAnswer = await h.call(
        'GET',
        `/v1/deliveries/${id}/attempts?limit=10${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      pages.push(numbers(page.body.data));
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(pages).toEqual([range(1, 10), range(11, 20), range(21, 25)]);
    expectError(await h.call('GET', `/v1/deliveries/${id}/attempts?cursor=abc`), 422, 'validation_failed', [
      'query.cursor',
    ]);
    expectError(await h.call('GET', `/v1/deliveries/${newId('dlv')}/attempts`), 404, 'not_found');
  });

  test('get, cancel and resend of an unknown id → 404', async () => {
    for (const id of [newId('dlv'), 'nope']) {
      expectError(await h.call('GET', `/v1/deliveries/${id}`), 404, 'not_found');
      expectError(await h.call('POST', `/v1/deliveries/${id}/cancel`), 404, 'not_found');
      expectError(await h.call('POST', `/v1/deliveries/${id}/resend`), 404, 'not_found');
    }
  });
});

describe('never a 500 for bad input', () => {
  test.each<[string, string, unknown, string]>([
    ['a NUL in event data', '/v1/events', { type: 'order.created', data: { note: 'a\u0000b' } }, 'data.note'],
    [
      'a NUL in an event data key',
      '/v1/events',
      { type: 'order.created', data: { list: [{ 'a\u0000': 1 }] } },
      'data.list.0',
    ],
    [
      'a NUL in a subscription description',
      '/v1/subscriptions',
      { ...VALID_SUBSCRIPTION, description: 'a\u0000b' },
      'description',
    ],
    [
      'a NUL in an event type description',
      '/v1/event-types',
      { id: 'nul.desc', description: 'a\u0000b' },
      'description',
    ],
    ['a lone surrogate in event data', '/v1/events', '{"type":"order.created","data":{"note":"\\ud800"}}', 'data.note'],
    [
      'a lone low surrogate in a description',
      '/v1/subscriptions',
      { ...VALID_SUBSCRIPTION, description: 'x\udc00' },
      'description',
    ],
    [
      'deeply nested event data',
      '/v1/events',
      `{"type":"order.created","data":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
      'data',
    ],
  ])('%s → 422 naming the field, nothing written', async (_what, path, body, field) => {
    const before = await allSubscriptions();
    const res = await h.call('POST', path, body);
    expectError(res, 422, 'validation_failed');
    expect(res.body.error.details[0].path).toMatch(new RegExp(`^${field.replace(/\./g, '\\.')}`));
    expect(await allSubscriptions()).toEqual(before);
  });

  test('nesting up to the limit is accepted; well-formed astral characters too', async () => {
    const deep = JSON.parse(`${'['.repeat(62)}"🙂"${']'.repeat(62)}`);
    const res = await h.call('POST', '/v1/events', { type: 'order.created', data: deep });
    expect(res.status).toBe(202);
    expect((await h.call('GET', `/v1/events/${res.body.id}`)).body.data).toEqual(deep);
  });

  test.each(['/v1/subscriptions/%E0%A4%A', '/v1/deliveries/%ZZ', '/v1/events/%'])(
    'a malformed path %s → 400',
    async (path) => {
      expectError(await h.call('GET', path), 400, 'malformed_request', ['path']);
    },
  );

  test.each([
    ['/v1/subscriptions?limit=1&limit=2', 422, 'query.limit'],
    ['/v1/subscriptions?eventType[]=x', 422, 'query'],
    ['/v1/subscriptions?accountId=a%00b', 422, 'query.accountId'],
    ['/v1/subscriptions?eventType=%00', 422, 'query.eventType'],
    ['/v1/deliveries?eventId=%00', 422, 'query.eventId'],
    ['/v1/events/a%00b', 404, undefined],
    ['/v1/subscriptions/sub_%00', 404, undefined],
    ['/v1/deliveries/%00', 404, undefined],
  ])('an odd query or id: %s → %i', async (path, status, field) => {
    const res = await h.call('GET', path);
    expectError(res, status, status === 404 ? 'not_found' : 'validation_failed', field ? [field] : []);
  });

  test('an odd but harmless query value is just a value', async () => {
    const res = await h.call('GET', '/v1/subscriptions?accountId=%ZZ');
    expect(res).toMatchObject({ status: 200, body: { data: [] } });
  });

  test('a JSON body with an unsupported charset', async () => {
    const res = await h.call('POST', '/v1/event-types', JSON.stringify({ id: 'charset.x' }), {
      'content-type': 'application/json; charset=latin1',
    });
    expectError(res, 415, 'unsupported_media_type');
  });
});

test('stopping delivery control ends a cancel still waiting on its workflow, so nothing outlives the connection', async () => {
  const type = await freshType();
  await createSubscription({ eventTypes: [type] });
  const event = await h.call('POST', '/v1/events', { type, data: null });
  const listed = await h.call('GET', `/v1/deliveries?eventId=${event.body.id}`);
  const delivery = await h.store.deliveries.get(listed.body.data[0].id);
  // A client of its own, telling the test when the cancel's update request is on its way.
  let updateSent!: () => void;
  const sent = new Promise<void>((resolve) => (updateSent = resolve));
  const watchUpdates: GrpcInterceptor = (options, nextCall) => {
    if (options.method_definition.path.endsWith('/UpdateWorkflowExecution')) updateSent();
    return nextCall(options) as ReturnType<GrpcInterceptor>;
  };
  const connection = await Connection.connect({ address: env.address, interceptors: [watchUpdates] });
  const client = new Client({ connection, namespace: h.client.options.namespace });
  const control = new DeliveryControl({
    client,
    store: h.store,
    logger: createLogger('silent'),
    taskQueue: h.taskQueue,
    attemptTimeoutMs: 1_000,
    settleTimeoutMs: 60_000,
  });
  // No worker runs: no validator answers the cancel update, so the cancel waits out its settle time…
  const cancelling = control.cancel(delivery!).then(
    () => 'answered',
    (error: unknown) => error,
  );
  try {
    await sent;
    const stoppedAt = Date.now();
    await control.stop();
    // …unless stopped: then it ends at once, as a 503 (the service is going away).
    expect(await cancelling).toBeInstanceOf(UnavailableError);
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
  } finally {
    await connection.close();
  }
});
