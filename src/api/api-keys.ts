import { z } from 'zod';
import { NotFoundError } from '../errors';
import type { ApiKeyRecord } from '../store/api-keys';
import type { Store } from '../store';
import { generateApiKey, principalFromScope, requireAdmin } from './auth';
import { route } from './route';
import { apiCursor, listOf, named, pageQuery, resourceId, text } from './schemas';

const scope = z
  .string({ error: 'scope must be a string' })
  .regex(
    /^(?:admin|account:[A-Za-z0-9._-]{1,128})$/,
    `must be "admin" or "account:<accountId>" (letters, digits, '.', '_', '-'; 1–128 characters)`,
  )
  .refine((value) => principalFromScope(value) !== undefined, {
    message: `must be "admin" or "account:<accountId>" (letters, digits, '.', '_', '-'; 1–128 characters)`,
  })
  .meta({
    description:
      '"admin" (everything) or "account:<accountId>" (only that account\'s subscriptions, events and deliveries).',
  });

const createApiKey = z.strictObject({
  scope,
  name: text('name', 200).default(''),
});

const apiKeyView = named(
  'ApiKey',
  'output',
  z.object({
    id: z.string(),
    name: z.string(),
    scope: z.string(),
    createdAt: z.iso.datetime(),
    revokedAt: z.iso.datetime().nullable(),
  }),
);

const present = (key: ApiKeyRecord): z.infer<typeof apiKeyView> => ({
  id: key.id,
  name: key.name,
  scope: key.scope,
  createdAt: key.createdAt.toISOString(),
  revokedAt: key.revokedAt?.toISOString() ?? null,
});

/** Managed API keys; every route needs an admin key. Keys seeded from WEBHOOKS_API_KEYS are not listed here. */
export function apiKeyRoutes(deps: { store: Store }) {
  const { store } = deps;
  return [
    route({
      method: 'post',
      operationId: 'createApiKey',
      path: '/v1/api-keys',
      tag: 'API keys',
      summary: 'Create an API key; the answer carries the key, shown this once (only its hash is kept)',
      body: createApiKey,
      status: 201,
      response: apiKeyView.extend({ key: z.string() }),
      errors: [403],
      links: {
        RevokeApiKey: { operationId: 'revokeApiKey', parameters: { id: '$response.body#/id' } },
      },
      handler: async ({ body, req }) => {
        requireAdmin(req);
        const generated = generateApiKey();
        const created = await store.apiKeys.create({
          id: generated.id,
          name: body.name,
          scope: body.scope,
          keyHash: generated.keyHash,
        });
        return { ...present(created), key: generated.key };
      },
    }),
    route({
      method: 'get',
      operationId: 'listApiKeys',
      path: '/v1/api-keys',
      tag: 'API keys',
      summary: 'List the API keys created through the API (revoked ones included)',
      query: z.strictObject({ ...pageQuery }),
      status: 200,
      response: listOf(apiKeyView),
      errors: [403],
      handler: async ({ query, req }) => {
        requireAdmin(req);
        const page = await store.apiKeys.list(query);
        return { data: page.items.map(present), nextCursor: apiCursor(page.nextCursor) };
      },
    }),
    route({
      method: 'delete',
      operationId: 'revokeApiKey',
      path: '/v1/api-keys/:id',
      tag: 'API keys',
      summary: 'Revoke an API key; it is refused from the next request on',
      status: 204,
      errors: [403, 404],
      handler: async ({ params, req }) => {
        requireAdmin(req);
        const id = params.id as string;
        const revoked = resourceId.safeParse(id).success ? await store.apiKeys.revoke(id) : undefined;
        if (!revoked) throw new NotFoundError('API key', id);
      },
    }),
  ];
}
