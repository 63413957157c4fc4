/**
 * The OpenAPI document is exact (issue 13): every schema is a component and every `$ref`
 * resolves from the document's root; the formats, patterns, bounds and required-ness the server
 * enforces are in it, generated from the same zod schemas. Built from the route declarations
 * alone (no handler runs). Schemathesis checks the running server against it
 * (scripts/schemathesis.sh).
 */
import { apiRoutes, type AppDeps } from '../../src/api/app';
import { openApiDocument } from '../../src/api/openapi';

const doc = openApiDocument(apiRoutes({} as AppDeps), '1.0.0') as any;
const schemas = doc.components.schemas as Record<string, any>;

/** Every `$ref` in a value, with where it was found. */
function refsIn(value: unknown, at = '#'): Array<{ at: string; ref: string }> {
  if (Array.isArray(value)) return value.flatMap((item, index) => refsIn(item, `${at}/${index}`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, item]) =>
    key === '$ref' && typeof item === 'string' ? [{ at, ref: item }] : refsIn(item, `${at}/${key}`),
  );
}

/** Resolves a local JSON pointer against the document's root. */
function resolve(ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<any>((node, part) => (node === undefined ? undefined : node[part]), doc);
}

const operation = (path: string, method: string): any => doc.paths[path][method];
const requestSchema = (path: string, method: string): any =>
  resolve(operation(path, method).requestBody.content['application/json'].schema.$ref);
const queryParam = (path: string, method: string, name: string): any =>
  operation(path, method).parameters.find((param: any) => param.in === 'query' && param.name === name);

test('every $ref resolves from the root, and no schema keeps definitions of its own', () => {
  const refs = refsIn(doc);
  expect(refs.length).toBeGreaterThan(40);
  for (const { at, ref } of refs)
    expect({ at, ref, resolves: resolve(ref) !== undefined }).toMatchObject({ resolves: true });
  expect(JSON.stringify(doc)).not.toMatch(/\$defs|__schema|"\$id"|"\$schema"/);
});

test('every request body and answer is a component; shared views appear once', () => {
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(methods)) {
      expect(op.operationId).toEqual(expect.any(String));
      const body = op.requestBody?.content['application/json'].schema;
      if (body)
        expect({ path, method, body }).toEqual({
          path,
          method,
          body: { $ref: expect.stringMatching(/^#\/components\/schemas\//) },
        });
      for (const response of Object.values(op.responses as Record<string, any>)) {
        const schema = response.content?.['application/json'].schema;
        if (schema) expect(schema).toEqual({ $ref: expect.stringMatching(/^#\/components\/schemas\//) });
      }
    }
  }
  for (const name of [
    'Subscription',
    'Delivery',
    'Attempt',
    'Event',
    'EventType',
    'ApiKey',
    'RetryPolicy',
    'RetryPolicySettings',
    'Error',
  ])
    expect(schemas[name]).toBeDefined();
  expect(operation('/v1/subscriptions/{id}', 'get').responses['200'].content['application/json'].schema).toEqual({
    $ref: '#/components/schemas/Subscription',
  });
});

test('event data is any JSON value, required, with no unresolvable definition', () => {
  const publish = requestSchema('/v1/events', 'post');
  expect(publish.required).toEqual(expect.arrayContaining(['type', 'data']));
  expect(Object.keys(publish.properties.data).filter((key) => key !== 'description')).toEqual([]);
  expect(Object.keys(schemas.Event.properties.data).filter((key) => key !== 'description')).toEqual([]);
});

test('the formats, patterns and bounds the server enforces are in the document', () => {
  const create = requestSchema('/v1/subscriptions', 'post');
  expect(create.properties.url).toMatchObject({
    type: 'string',
    format: 'uri',
    maxLength: 2048,
    pattern: expect.any(String),
  });
  expect(create.properties.secret.pattern).toEqual(expect.stringContaining('whsec_'));
  expect(create.properties.description).toMatchObject({ maxLength: 1024, pattern: '^[^\\u0000]*$' });
  expect(create.properties.headers).toMatchObject({
    maxProperties: 20,
    propertyNames: { pattern: expect.any(String) },
  });
  expect(schemas.RetryPolicySettings.properties.initialInterval.anyOf).toEqual([
    { type: 'string', pattern: '^[0-9]{1,9}(ms|s|m|h|d)$' },
    { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  ]);
  expect(requestSchema('/v1/api-keys', 'post').properties.scope.pattern).toBe(
    '^(?:admin|account:[A-Za-z0-9._-]{1,128})$',
  );
  expect(requestSchema('/v1/events', 'post').properties.callbackUrl).toMatchObject({ format: 'uri', maxLength: 2048 });
  expect(queryParam('/v1/subscriptions', 'get', 'cursor').schema.pattern).toBe('^[a-z]{2,3}_[0-9a-z]{26}$');
  expect(queryParam('/v1/deliveries/{id}/attempts', 'get', 'cursor').schema.pattern).toBe('^(0|[1-9][0-9]{0,8})$');
  for (const path of ['/v1/subscriptions', '/v1/deliveries', '/v1/api-keys', '/v1/deliveries/{id}/attempts']) {
    expect(queryParam(path, 'get', 'limit').schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 100 });
  }
});

test('required-ness: PATCH and rotate take an optional body; create requires what the server requires', () => {
  expect(operation('/v1/subscriptions/{id}', 'patch').requestBody.required).toBe(false);
  expect(operation('/v1/subscriptions/{id}/secret/rotate', 'post').requestBody.required).toBe(false);
  expect(operation('/v1/subscriptions', 'post').requestBody.required).toBe(true);
  expect(requestSchema('/v1/subscriptions/{id}', 'patch').required).toBeUndefined();
  expect([...requestSchema('/v1/subscriptions', 'post').required].sort()).toEqual(['eventTypes', 'url']);
  expect(schemas.PublishEventResponse.required).not.toContain('callbackSecret');
});

test('links lead from created and listed resources to their operations', () => {
  const operationIds = new Set(
    Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((methods) =>
      Object.values(methods).map((op) => op.operationId),
    ),
  );
  const links = Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((methods) =>
    Object.values(methods).flatMap((op) =>
      Object.values(op.responses as Record<string, any>).flatMap((response) => Object.values(response.links ?? {})),
    ),
  ) as Array<{ operationId: string }>;
  for (const link of links) expect(operationIds).toContain(link.operationId);
  const fromCreate = operation('/v1/subscriptions', 'post').responses['201'].links;
  expect(Object.values(fromCreate).map((link: any) => link.operationId)).toEqual(
    expect.arrayContaining(['getSubscription', 'updateSubscription', 'deleteSubscription', 'listDeliveries']),
  );
  expect(operation('/v1/events', 'post').responses['202'].links.GetEvent).toEqual({
    operationId: 'getEvent',
    parameters: { id: '$response.body#/id' },
  });
  expect(Object.keys(operation('/v1/deliveries', 'get').responses['200'].links)).toEqual(
    expect.arrayContaining(['GetDelivery', 'CancelDelivery', 'ResendDelivery', 'ListDeliveryAttempts']),
  );
});
