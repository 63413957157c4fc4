/** The OpenAPI 3.1 document, generated from the same route declarations and schemas that validate requests. */
import { z } from 'zod';
import type { Route } from './route';
import { errorBody } from './schemas';

const COMMON_ERRORS: Record<number, string> = {
  400: 'Malformed request (e.g. invalid JSON)',
  401: 'Missing or invalid API key',
  403: "The API key's scope does not allow this route",
  404: 'Not found',
  409: 'Conflict',
  413: 'Request body too large',
  415: 'Content type is not application/json',
  422: 'A field is invalid; details name each one',
  503: 'A dependency is unavailable; retry after the Retry-After header',
};

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;

/** `/v1/subscriptions/:id` → `/v1/subscriptions/{id}` */
const openApiPath = (path: string): string => path.replace(/:([A-Za-z]+)/g, '{$1}');

function operation(spec: Route): Record<string, unknown> {
  const params = [...spec.path.matchAll(/:([A-Za-z]+)/g)].map((match) => ({
    name: match[1],
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const query = spec.query ? jsonSchema(spec.query, 'input') : undefined;
  const queryParams = Object.entries((query?.properties ?? {}) as Record<string, unknown>).map(([name, schema]) => ({
    name,
    in: 'query',
    required: ((query?.required as string[] | undefined) ?? []).includes(name),
    schema,
  }));
  const errorStatuses = [...new Set([400, 401, 413, 415, 422, ...(spec.errors ?? [])])].sort();
  const responses: Record<string, unknown> = {
    [spec.status]: spec.response
      ? { description: 'Success', content: { 'application/json': { schema: jsonSchema(spec.response, 'output') } } }
      : { description: 'Success, no content' },
  };
  for (const status of errorStatuses) {
    responses[status] = {
      description: COMMON_ERRORS[status] ?? 'Error',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return {
    summary: spec.summary,
    tags: [spec.tag],
    parameters: [...params, ...queryParams],
    ...(spec.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } } } }
      : {}),
    responses,
  };
}

export function openApiDocument(specs: ReadonlyArray<Route>, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    const path = (paths[openApiPath(spec.path)] ??= {});
    path[spec.method] = operation(spec);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Webhook delivery API',
      version,
      description:
        'Publish events; every matching subscription receives them as signed (Standard Webhooks) HTTP POSTs, retried for up to 48 hours.',
    },
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }],
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: jsonSchema(errorBody, 'output') },
    },
    paths,
  };
}
