/**
 * Who may do what: managed API keys (created once, stored hashed, revoked at once) and
 * account-scoped keys, tried on every route against another account's resources.
 */
import { createHash } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startHarness, type ApiAnswer, type Harness } from '../helpers/harness';
import { createTestTemporal } from '../helpers/temporal-env';

let env: TestWorkflowEnvironment;
let h: Harness;

/** Keys by name; resources of two accounts (acme, globex) and of the vendor. */
const keys: Record<'acme' | 'globex' | 'admin', { id: string; key: string }> = {} as never;
const globex = {
  subscription: '',
  event: 'evt-globex-1',
  delivery: '',
  callbackDelivery: '',
  vendorDelivery: '',
  secret: '',
  operation: '',
};
const vendor = { subscription: '' };
const acme = { subscription: '', event: '', delivery: '' };

/** Receivers are never reached: no worker runs here, deliveries stay pending. */
const NOWHERE = 'http://127.0.0.1:9/never';
/** The start of a recover's or replay's window. */
const SINCE = '2026-01-01T00:00:00Z';

function as(key: string) {
  return <T = any>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> =>
    h.call<T>(method, path, body, { authorization: `Bearer ${key}` });
}

beforeAll(async () => {
  env = await createTestTemporal();
  h = await startHarness({ env, worker: false });
  expect((await h.call('POST', '/v1/event-types', { id: 'order.created' })).status).toBe(201);
  for (const [name, scope] of [
    ['acme', 'account:acme'],
    ['globex', 'account:globex'],
    ['admin', 'admin'],
  ] as const) {
    const res = await h.call('POST', '/v1/api-keys', { scope, name });
    expect(res.status).toBe(201);
    keys[name] = { id: res.body.id, key: res.body.key };
  }
  const asGlobex = as(keys.globex.key);
  const sub = await asGlobex('POST', '/v1/subscriptions', { url: NOWHERE, eventTypes: ['order.created'] });
  expect(sub.status).toBe(201);
  expect(sub.body.accountId).toBe('globex');
  globex.subscription = sub.body.id;
  globex.secret = sub.body.secret;
  const vendorSub = await h.call('POST', '/v1/subscriptions', { url: NOWHERE, eventTypes: ['order.created'] });
  vendor.subscription = vendorSub.body.id;
  const event = await asGlobex('POST', '/v1/events', {
    id: globex.event,
    type: 'order.created',
    data: { secret: 'globex-only' },
    callbackUrl: NOWHERE,
  });
  expect(event.status).toBe(202);
  expect(event.body).toMatchObject({ accountId: 'globex', deliveryCount: 3 });
  const deliveries = (await h.call('GET', `/v1/deliveries?eventId=${globex.event}`)).body.data as any[];
  globex.delivery = deliveries.find((d) => d.subscriptionId === globex.subscription).id;
  globex.callbackDelivery = deliveries.find((d) => d.subscriptionId === null).id;
  globex.vendorDelivery = deliveries.find((d) => d.subscriptionId === vendor.subscription).id;

  const asAcme = as(keys.acme.key);
  const acmeSub = await asAcme('POST', '/v1/subscriptions', { url: NOWHERE, eventTypes: ['order.created'] });
  expect(acmeSub.body.accountId).toBe('acme');
  acme.subscription = acmeSub.body.id;
  const acmeEvent = await asAcme('POST', '/v1/events', { type: 'order.created', data: {} });
  expect(acmeEvent.body.accountId).toBe('acme');
  acme.event = acmeEvent.body.id;
  acme.delivery = (await asAcme('GET', `/v1/deliveries?subscriptionId=${acme.subscription}`)).body.data[0].id;
  const operation = await asGlobex('POST', `/v1/subscriptions/${globex.subscription}/replay`, { since: SINCE });
  expect(operation.status).toBe(202);
  globex.operation = operation.body.id;
}, 120_000);

afterAll(async () => {
  await h?.close();
  await env?.teardown();
});

/** The 404 an unknown id gets, with the id replaced, to compare with what a foreign id gets. */
const notFoundShape = (res: ApiAnswer, id: string) => ({
  status: res.status,
  body: JSON.parse(JSON.stringify(res.body).split(id).join('<id>')),
});

/** Every route, tried by acme's key on globex's (or the vendor's) resources. */
const ATTEMPTS: Array<{
  route: string;
  call: () => Promise<ApiAnswer>;
  expectNothing: (res: ApiAnswer) => void | Promise<void>;
}> = [];
function attempt(
  route: string,
  call: () => Promise<ApiAnswer>,
  expectNothing: (res: ApiAnswer) => void | Promise<void>,
): void {
  ATTEMPTS.push({ route, call, expectNothing });
}

const foreignNotFound =
  (id: string, unknownPath: string, method = 'GET', body?: unknown) =>
  async (res: ApiAnswer) => {
    expect(res.status).toBe(404);
    const unknownId = id.replace(/.{6}$/, 'zzzzzz');
    const unknown = await as(keys.acme.key)(method, unknownPath.replace(id, unknownId), body);
    expect(notFoundShape(res, id)).toEqual(notFoundShape(unknown, unknownId));
  };

const acmeCall = (method: string, path: string, body?: unknown) => () => as(keys.acme.key)(method, path, body);

attempt('GET /v1/subscriptions', acmeCall('GET', '/v1/subscriptions'), (res) => {
  expect(res.status).toBe(200);
  expect(res.body.data.map((s: any) => s.id)).toEqual([acme.subscription]);
});
attempt('GET /v1/subscriptions?accountId=globex', acmeCall('GET', '/v1/subscriptions?accountId=globex'), (res) => {
  expect(res.body).toEqual({ data: [], nextCursor: null });
});
attempt(
  'GET /v1/subscriptions/:id',
  () => as(keys.acme.key)('GET', `/v1/subscriptions/${globex.subscription}`),
  (res) => foreignNotFound(globex.subscription, `/v1/subscriptions/${globex.subscription}`)(res),
);
attempt(
  'GET /v1/subscriptions/:id (vendor level)',
  () => as(keys.acme.key)('GET', `/v1/subscriptions/${vendor.subscription}`),
  (res) => {
    expect(res.status).toBe(404);
  },
);
attempt(
  'GET /v1/subscriptions/:id/secret',
  () => as(keys.acme.key)('GET', `/v1/subscriptions/${globex.subscription}/secret`),
  (res) => foreignNotFound(globex.subscription, `/v1/subscriptions/${globex.subscription}/secret`)(res),
);
attempt(
  'POST /v1/subscriptions/:id/secret/rotate',
  () => as(keys.acme.key)('POST', `/v1/subscriptions/${globex.subscription}/secret/rotate`, {}),
  async (res) => {
    await foreignNotFound(
      globex.subscription,
      `/v1/subscriptions/${globex.subscription}/secret/rotate`,
      'POST',
      {},
    )(res);
    expect((await h.call('GET', `/v1/subscriptions/${globex.subscription}/secret`)).body.secret).toBe(globex.secret);
  },
);
attempt(
  'PATCH /v1/subscriptions/:id',
  () => as(keys.acme.key)('PATCH', `/v1/subscriptions/${globex.subscription}`, { active: false }),
  async (res) => {
    expect(res.status).toBe(404);
    expect((await h.call('GET', `/v1/subscriptions/${globex.subscription}`)).body.active).toBe(true);
  },
);
attempt(
  'DELETE /v1/subscriptions/:id',
  () => as(keys.acme.key)('DELETE', `/v1/subscriptions/${globex.subscription}`),
  async (res) => {
    expect(res.status).toBe(404);
    expect((await h.call('GET', `/v1/subscriptions/${globex.subscription}`)).status).toBe(200);
  },
);
attempt(
  'POST /v1/subscriptions for another account',
  acmeCall('POST', '/v1/subscriptions', { url: NOWHERE, eventTypes: ['order.created'], accountId: 'globex' }),
  (res) => {
    expect(res.status).toBe(403);
    expect(res.body.error.details).toEqual([{ path: 'accountId', message: 'must be the account of this API key' }]);
  },
);
attempt(
  'POST /v1/events for another account',
  acmeCall('POST', '/v1/events', { type: 'order.created', data: {}, accountId: 'globex' }),
  (res) => {
    expect(res.status).toBe(403);
    expect(res.body.error.details[0].path).toBe('accountId');
  },
);
attempt(
  'GET /v1/events/:id',
  () => as(keys.acme.key)('GET', `/v1/events/${globex.event}`),
  (res) => foreignNotFound(globex.event, `/v1/events/${globex.event}`)(res),
);
attempt('GET /v1/deliveries', acmeCall('GET', '/v1/deliveries'), (res) => {
  expect(res.body.data.map((d: any) => d.id)).toEqual([acme.delivery]);
});
attempt(
  'GET /v1/deliveries?eventId&subscriptionId',
  () => as(keys.acme.key)('GET', `/v1/deliveries?eventId=${globex.event}`),
  async (res) => {
    expect(res.body).toEqual({ data: [], nextCursor: null });
    expect((await as(keys.acme.key)('GET', `/v1/deliveries?subscriptionId=${globex.subscription}`)).body.data).toEqual(
      [],
    );
  },
);
attempt(
  'GET /v1/deliveries/:id',
  () => as(keys.acme.key)('GET', `/v1/deliveries/${globex.delivery}`),
  (res) => foreignNotFound(globex.delivery, `/v1/deliveries/${globex.delivery}`)(res),
);
attempt(
  'GET /v1/deliveries/:id/attempts',
  () => as(keys.acme.key)('GET', `/v1/deliveries/${globex.delivery}/attempts`),
  (res) => foreignNotFound(globex.delivery, `/v1/deliveries/${globex.delivery}/attempts`)(res),
);
attempt(
  'POST /v1/deliveries/:id/cancel',
  () => as(keys.acme.key)('POST', `/v1/deliveries/${globex.delivery}/cancel`),
  async (res) => {
    await foreignNotFound(globex.delivery, `/v1/deliveries/${globex.delivery}/cancel`, 'POST')(res);
    expect((await h.call('GET', `/v1/deliveries/${globex.delivery}`)).body.status).toBe('pending');
  },
);
attempt(
  'POST /v1/deliveries/:id/resend',
  () => as(keys.acme.key)('POST', `/v1/deliveries/${globex.delivery}/resend`),
  (res) => foreignNotFound(globex.delivery, `/v1/deliveries/${globex.delivery}/resend`, 'POST')(res),
);
attempt(
  'POST /v1/subscriptions/:id/recover',
  () => as(keys.acme.key)('POST', `/v1/subscriptions/${globex.subscription}/recover`, { since: SINCE }),
  (res) =>
    foreignNotFound(globex.subscription, `/v1/subscriptions/${globex.subscription}/recover`, 'POST', {
      since: SINCE,
    })(res),
);
attempt(
  'POST /v1/subscriptions/:id/replay',
  () => as(keys.acme.key)('POST', `/v1/subscriptions/${globex.subscription}/replay`, { since: SINCE }),
  (res) =>
    foreignNotFound(globex.subscription, `/v1/subscriptions/${globex.subscription}/replay`, 'POST', {
      since: SINCE,
    })(res),
);
attempt('GET /v1/operations', acmeCall('GET', `/v1/operations?subscriptionId=${globex.subscription}`), (res) => {
  expect(res.body).toEqual({ data: [], nextCursor: null });
});
attempt(
  'GET /v1/operations/:id',
  () => as(keys.acme.key)('GET', `/v1/operations/${globex.operation}`),
  (res) => foreignNotFound(globex.operation, `/v1/operations/${globex.operation}`)(res),
);
attempt(
  'POST /v1/operations/:id/cancel',
  () => as(keys.acme.key)('POST', `/v1/operations/${globex.operation}/cancel`),
  async (res) => {
    await foreignNotFound(globex.operation, `/v1/operations/${globex.operation}/cancel`, 'POST')(res);
    expect((await h.call('GET', `/v1/operations/${globex.operation}`)).body.status).toBe('running');
  },
);
attempt('POST /v1/event-types', acmeCall('POST', '/v1/event-types', { id: 'acme.only' }), (res) => {
  expect(res.status).toBe(403);
});
attempt('GET /v1/event-types', acmeCall('GET', '/v1/event-types'), (res) => {
  // The catalog is shared by every account and holds nothing of theirs.
  expect(res.status).toBe(200);
});
attempt('POST /v1/api-keys', acmeCall('POST', '/v1/api-keys', { scope: 'admin' }), (res) => {
  expect(res.status).toBe(403);
});
attempt('GET /v1/api-keys', acmeCall('GET', '/v1/api-keys'), (res) => {
  expect(res.status).toBe(403);
});
attempt(
  'DELETE /v1/api-keys/:id',
  () => as(keys.acme.key)('DELETE', `/v1/api-keys/${keys.globex.id}`),
  async (res) => {
    expect(res.status).toBe(403);
    expect((await as(keys.globex.key)('GET', '/v1/subscriptions')).status).toBe(200);
  },
);

describe("an account key against another account's resources", () => {
  test.each(ATTEMPTS.map((a) => [a.route, a] as const))('%s gets nothing', async (_route, a) => {
    await a.expectNothing(await a.call());
  });

  test('every route of the API is tried above', async () => {
    const doc = (await fetch(`${h.api.url}/openapi.json`).then((res) => res.json())) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const tried = new Set(ATTEMPTS.map((a) => a.route.split(/[ ?]/).slice(0, 2).join(' ')));
    expect(routes.filter((route) => !tried.has(route))).toEqual([]);
  });

  test('the owner sees its own: its subscription, event, deliveries (not those to vendor-level subscriptions)', async () => {
    const asGlobex = as(keys.globex.key);
    expect((await asGlobex('GET', `/v1/subscriptions/${globex.subscription}`)).status).toBe(200);
    expect((await asGlobex('GET', `/v1/subscriptions/${globex.subscription}/secret`)).body.secret).toBe(globex.secret);
    const event = await asGlobex('GET', `/v1/events/${globex.event}`);
    expect(event.status).toBe(200);
    expect(event.body.deliveries.total).toBe(2);
    expect((await h.call('GET', `/v1/events/${globex.event}`)).body.deliveries.total).toBe(3);
    const list = await asGlobex('GET', '/v1/deliveries');
    expect(list.body.data.map((d: any) => d.id).sort()).toEqual([globex.delivery, globex.callbackDelivery].sort());
    expect((await asGlobex('GET', `/v1/deliveries/${globex.vendorDelivery}`)).status).toBe(404);
    expect((await asGlobex('GET', `/v1/subscriptions/${vendor.subscription}`)).status).toBe(404);
    expect((await asGlobex('POST', `/v1/deliveries/${globex.delivery}/resend`)).status).toBe(202);
  });

  test('an account key publishing without accountId publishes for its own account', async () => {
    const res = await as(keys.acme.key)('POST', '/v1/events', { type: 'order.created', data: { n: 2 } });
    expect(res.status).toBe(202);
    expect(res.body.accountId).toBe('acme');
    // Matched acme's own subscription and the vendor's, never globex's.
    expect(res.body.deliveryCount).toBe(2);
  });

  test('an account key changes its own subscription, and cannot move it to another account', async () => {
    const asAcme = as(keys.acme.key);
    const patched = await asAcme('PATCH', `/v1/subscriptions/${acme.subscription}`, {
      description: 'mine',
      accountId: 'globex',
    });
    expect(patched.status).toBe(422);
    expect(patched.body.error.details[0].message).toMatch(/unknown field/);
    expect(
      (await asAcme('PATCH', `/v1/subscriptions/${acme.subscription}`, { description: 'mine' })).body,
    ).toMatchObject({ description: 'mine', accountId: 'acme' });
  });
});

describe('managed API keys', () => {
  test('the key is returned once; only its SHA-256 is stored', async () => {
    const created = await h.call('POST', '/v1/api-keys', { scope: 'account:initech', name: 'initech ci' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^key_/),
      name: 'initech ci',
      scope: 'account:initech',
      createdAt: expect.any(String),
      revokedAt: null,
      key: expect.stringMatching(/^whk_/),
    });
    const list = await h.call('GET', '/v1/api-keys?limit=100');
    const listed = list.body.data.find((k: any) => k.id === created.body.id);
    expect(listed).toEqual({
      id: created.body.id,
      name: 'initech ci',
      scope: 'account:initech',
      createdAt: created.body.createdAt,
      revokedAt: null,
    });
    expect(JSON.stringify(list.body)).not.toContain(created.body.key);
    const rows = await h.store.db.query<Record<string, unknown>>('SELECT * FROM api_keys WHERE id = $1', [
      created.body.id,
    ]);
    expect(rows[0]?.key_hash).toBe(createHash('sha256').update(created.body.key).digest('hex'));
    const everything = JSON.stringify(await h.store.db.query('SELECT * FROM api_keys'));
    for (const { key } of Object.values(keys)) expect(everything).not.toContain(key);
  });

  test('a revoked key is refused from the next request on; revoking again is harmless', async () => {
    const created = await h.call('POST', '/v1/api-keys', { scope: 'account:soon-gone' });
    const asGone = as(created.body.key);
    expect((await asGone('GET', '/v1/subscriptions')).status).toBe(200);
    expect((await h.call('DELETE', `/v1/api-keys/${created.body.id}`)).status).toBe(204);
    const refused = await asGone('GET', '/v1/subscriptions');
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('unauthorized');
    expect((await h.call('DELETE', `/v1/api-keys/${created.body.id}`)).status).toBe(204);
    const listed = (await h.call('GET', '/v1/api-keys?limit=100')).body.data.find((k: any) => k.id === created.body.id);
    expect(listed.revokedAt).toEqual(expect.any(String));
  });

  test('an admin-scoped managed key may manage keys; a seeded admin key still works', async () => {
    const asAdmin = as(keys.admin.key);
    const created = await asAdmin('POST', '/v1/api-keys', { scope: 'account:hooli' });
    expect(created.status).toBe(201);
    expect((await asAdmin('DELETE', `/v1/api-keys/${created.body.id}`)).status).toBe(204);
    expect((await h.call('GET', '/v1/api-keys')).status).toBe(200);
  });

  test.each([
    ['no header', undefined],
    ['an empty bearer', 'Bearer '],
    ['a wrong seeded-style key', 'Bearer test-key-wrong'],
    ['basic auth', 'Basic dXNlcjpwYXNz'],
    ['a key of the managed form that was never issued', `Bearer whk_${'0'.repeat(26)}_${'A'.repeat(43)}`],
  ])('%s → 401', async (_what, authorization) => {
    const res = await fetch(`${h.api.url}/v1/subscriptions`, {
      headers: authorization === undefined ? {} : { authorization },
    });
    expect(res.status).toBe(401);
  });

  test('a managed key with one character changed → 401', async () => {
    const key = keys.globex.key;
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    expect((await as(`${key.slice(0, -1)}${last}`)('GET', '/v1/subscriptions')).status).toBe(401);
    const idPart = key.slice(4, 30);
    const otherId = keys.acme.key.slice(4, 30);
    // The id of one key with the secret part of another.
    expect((await as(key.replace(idPart, otherId))('GET', '/v1/subscriptions')).status).toBe(401);
  });

  test.each([
    ['scope root', { scope: 'root' }, 'scope'],
    ['scope account: without an id', { scope: 'account:' }, 'scope'],
    ['an account id with a space', { scope: 'account:a b' }, 'scope'],
    ['an unknown field', { scope: 'account:acme', extra: true }, 'body'],
    ['a 201-character name', { scope: 'admin', name: 'x'.repeat(201) }, 'name'],
    ['no scope', {}, 'scope'],
  ])('%s → 422', async (_what, body, path) => {
    const res = await h.call('POST', '/v1/api-keys', body);
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].path).toBe(path);
  });

  test('unknown key id → 404', async () => {
    expect((await h.call('DELETE', '/v1/api-keys/key_00000000000000000000000000')).status).toBe(404);
    expect((await h.call('DELETE', '/v1/api-keys/not-an-id')).status).toBe(404);
  });
});
