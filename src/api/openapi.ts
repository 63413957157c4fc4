/**
 * The OpenAPI 3.1 document, generated from the same route declarations and zod schemas that
 * validate requests. Every request body and answer is a named schema under
 * `components/schemas` (shared views such as `Subscription` once, referenced by `$ref`), so every
 * `$ref` resolves from the document's root; query parameters are inlined.
 */
import { z } from 'zod';
import type { Route } from './route';
import { errorBody, NAMED_SCHEMAS } from './schemas';

const COMMON_ERRORS: Record<number, string> = {
  400: 'Malformed request: not valid UTF-8, not JSON, or not valid HTTP',
  401: 'Missing or invalid API key',
  403: "The API key's scope does not allow this route",
  404: 'Not found',
  408: 'The request was not received in time',
  409: 'Conflict',
  413: 'Request body too large',
  415: 'Content type is not application/json, or its charset is not utf-8',
  422: 'A field is invalid; details name each one',
  431: 'Request line and headers too large',
  503: 'A dependency is unavailable; retry after the Retry-After header',
};

/** What any route may answer besides its own statuses. */
const ALWAYS = [400, 401, 408, 413, 415, 422, 431, 503];

const REF_PREFIX = '#/components/schemas/';

type JsonSchema = Record<string, unknown>;

const pascal = (operationId: string): string => operationId.charAt(0).toUpperCase() + operationId.slice(1);

/** `/v1/subscriptions/:id` → `/v1/subscriptions/{id}` */
const openApiPath = (path: string): string => path.replace(/:([A-Za-z]+)/g, '{$1}');

/** A standalone schema (query parameters): no `$schema`. */
function inlineSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

/**
 * The components: request bodies read as input (defaults make fields optional), answers as output,
 * each side from a registry of its own, so a schema's two readings never collide.
 */
function components(specs: ReadonlyArray<Route>): {
  schemas: Record<string, JsonSchema>;
  ref: (schema: z.ZodType, io: 'input' | 'output') => JsonSchema;
} {
  const registries = { input: z.registry<{ id: string }>(), output: z.registry<{ id: string }>() };
  registries.output.add(errorBody, { id: 'Error' });
  for (const [id, schema, io] of NAMED_SCHEMAS) registries[io].add(schema, { id });
  for (const spec of specs) {
    if (spec.body && !registries.input.has(spec.body))
      registries.input.add(spec.body, { id: `${pascal(spec.operationId)}Request` });
    if (spec.response && !registries.output.has(spec.response))
      registries.output.add(spec.response, { id: `${pascal(spec.operationId)}Response` });
  }
  const schemas: Record<string, JsonSchema> = {};
  for (const io of ['input', 'output'] as const) {
    const generated = z.toJSONSchema(registries[io], {
      target: 'draft-2020-12',
      io,
      unrepresentable: 'any',
      uri: (id) => `${REF_PREFIX}${id}`,
    }) as { schemas: Record<string, JsonSchema> };
    for (const [id, schema] of Object.entries(generated.schemas)) {
      const { $schema: _schema, $id: _id, ...rest } = schema;
      if (schemas[id]) throw new Error(`OpenAPI component ${id} is defined twice`);
      schemas[id] = rest;
    }
  }
  const ref = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const id = registries[io].get(schema)?.id;
    if (!id) throw new Error('schema missing from the OpenAPI components');
    return { $ref: `${REF_PREFIX}${id}` };
  };
  return { schemas, ref };
}

function operation(spec: Route, ref: (schema: z.ZodType, io: 'input' | 'output') => JsonSchema): JsonSchema {
  const params = [...spec.path.matchAll(/:([A-Za-z]+)/g)].map((match) => ({
    name: match[1],
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const query = spec.query ? inlineSchema(spec.query, 'input') : undefined;
  const queryParams = Object.entries((query?.properties ?? {}) as Record<string, JsonSchema>).map(([name, schema]) => ({
    name,
    in: 'query',
    required: ((query?.required as string[] | undefined) ?? []).includes(name),
    // One value each: a repeated parameter is refused.
    schema,
    ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
  }));
  const errorStatuses = [...new Set([...ALWAYS, ...(spec.errors ?? [])])].sort();
  const links = spec.links
    ? Object.fromEntries(
        Object.entries(spec.links).map(([name, link]) => [
          name,
          {
            operationId: link.operationId,
            parameters: link.parameters,
            ...(link.description ? { description: link.description } : {}),
          },
        ]),
      )
    : undefined;
  const responses: Record<string, unknown> = {
    [spec.status]: spec.response
      ? {
          description: 'Success',
          content: { 'application/json': { schema: ref(spec.response, 'output') } },
          ...(links ? { links } : {}),
        }
      : { description: 'Success, no content', ...(links ? { links } : {}) },
  };
  for (const status of errorStatuses) {
    responses[status] = {
      description: COMMON_ERRORS[status] ?? 'Error',
      content: { 'application/json': { schema: ref(errorBody, 'output') } },
    };
  }
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    tags: [spec.tag],
    parameters: [...params, ...queryParams],
    ...(spec.body
      ? {
          requestBody: {
            required: spec.bodyRequired ?? true,
            content: { 'application/json': { schema: ref(spec.body, 'input') } },
          },
        }
      : {}),
    responses,
  };
}

export function openApiDocument(specs: ReadonlyArray<Route>, version: string): Record<string, unknown> {
  const { schemas, ref } = components(specs);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of specs) {
    const path = (paths[openApiPath(spec.path)] ??= {});
    path[spec.method] = operation(spec, ref);
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
      schemas,
    },
    paths,
  };
}
