/**
 * A route is declared once: its path, its schemas and its handler. The same declaration mounts
 * the Express handler (which parses with the schemas) and feeds the OpenAPI document.
 */
import type { Request, Response, Router } from 'express';
import { type z } from 'zod';
import { ValidationError, type FieldProblem } from '../errors';

export type Method = 'get' | 'post' | 'patch' | 'delete';

export interface RouteContext<Body, Query> {
  readonly body: Body;
  readonly query: Query;
  readonly params: Record<string, string>;
  readonly req: Request;
  readonly res: Response;
}

/** An OpenAPI link from a route's answer to another operation (Schemathesis follows them in its stateful phase). */
export interface RouteLink {
  readonly operationId: string;
  /** Parameter name → runtime expression, e.g. `{ id: '$response.body#/id' }`. */
  readonly parameters: Readonly<Record<string, string>>;
  readonly description?: string;
}

export interface RouteSpec<Body = unknown, Query = unknown> {
  readonly method: Method;
  /** The operation's name in the OpenAPI document, e.g. `createSubscription`. */
  readonly operationId: string;
  /** Express path, e.g. `/v1/subscriptions/:id`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly body?: z.ZodType<Body>;
  readonly query?: z.ZodType<Query>;
  /** Status of a successful answer. */
  readonly status: number;
  /** Schema of a successful answer; none for 204. */
  readonly response?: z.ZodType;
  /** Statuses this route may answer besides success and the common ones (401, 422, 500…). */
  readonly errors?: readonly number[];
  /** Whether a body must be sent. @default true when the route has a body schema */
  readonly bodyRequired?: boolean;
  /** Links from the success answer to other operations, by name. */
  readonly links?: Readonly<Record<string, RouteLink>>;
  readonly handler: (ctx: RouteContext<Body, Query>) => Promise<unknown>;
}

/**
 * An answer whose JSON text is already written (e.g. an event whose `data` is the text the
 * producer sent): sent as it is instead of through JSON.stringify.
 */
export class JsonText {
  constructor(readonly text: string) {}
}

/**
 * The JSON text of an object whose members keep their order, with the members named in `raw`
 * written as the JSON text given (already valid JSON) instead of serialised.
 */
export function jsonObjectWithRaw(value: Record<string, unknown>, raw: Readonly<Record<string, string>>): JsonText {
  const members = Object.entries(value)
    .filter(([key, item]) => Object.hasOwn(raw, key) || item !== undefined)
    .map(([key, item]) => `${JSON.stringify(key)}:${Object.hasOwn(raw, key) ? raw[key] : JSON.stringify(item)}`);
  return new JsonText(`{${members.join(',')}}`);
}

/** A route with its types erased, so routes of different shapes fit in one list. */
export type Route = RouteSpec<unknown, unknown>;

/**
 * Declares a route, inferring Body and Query from its schemas. The handler only ever sees
 * values its own schemas parsed (see mountRoutes), which is what makes erasing the types safe.
 */
export function route<Body = undefined, Query = undefined>(spec: RouteSpec<Body, Query>): Route {
  return spec as unknown as Route;
}

/** Turns zod issues into `{ path, message }` details, e.g. `eventTypes.0: must be a registered event type`. */
export function toFieldProblems(error: z.ZodError, prefix?: string): FieldProblem[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((part) => part !== undefined && part !== '').join('.');
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown field(s): ${issue.keys.join(', ')}`
        : // A record key (e.g. a header name) that breaks its rule: say which rule.
          issue.code === 'invalid_key'
          ? (issue.issues[0]?.message ?? issue.message)
          : issue.message;
    return { path: path || (prefix ?? 'body'), message };
  });
}

/** Deepest nesting of arrays and objects a request may carry. */
export const MAX_JSON_DEPTH = 64;

/** A lone UTF-16 surrogate: JSON can carry one, UTF-8 (and so the store) cannot. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const problemInString = (text: string): string | undefined =>
  text.includes('\0')
    ? 'must not contain a NUL character'
    : LONE_SURROGATE.test(text)
      ? 'must be valid Unicode (it has a lone surrogate)'
      : undefined;

/**
 * The first value of a request the store could not keep, or schemas could not walk: PostgreSQL
 * text and jsonb hold no NUL and no lone surrogate, and nesting is bounded. Keys count too.
 */
export function findUnstorable(value: unknown, path: readonly string[] = [], depth = 0): FieldProblem | undefined {
  const at = (parts: readonly string[]): string => parts.join('.') || 'body';
  if (typeof value === 'string') {
    const message = problemInString(value);
    return message ? { path: at(path), message } : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (depth >= MAX_JSON_DEPTH)
    return { path: at(path), message: `must not nest more than ${MAX_JSON_DEPTH} levels deep` };
  for (const [key, item] of Object.entries(value)) {
    const keyMessage = problemInString(key);
    if (keyMessage) return { path: at(path), message: `a key ${keyMessage}` };
    const problem = findUnstorable(item, [...path, key], depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

export function parseWith<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query'): T {
  const unstorable = findUnstorable(value, where === 'query' ? ['query'] : []);
  if (unstorable) throw new ValidationError(`invalid request ${where}`, [unstorable]);
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(
      `invalid request ${where}`,
      toFieldProblems(parsed.error, where === 'query' ? 'query' : undefined),
    );
  }
  return parsed.data;
}

export function mountRoutes(router: Router, specs: readonly Route[]): void {
  for (const spec of specs) {
    router[spec.method](spec.path, async (req: Request, res: Response) => {
      const body = spec.body ? parseWith(spec.body, req.body ?? {}, 'body') : undefined;
      const query = spec.query ? parseWith(spec.query, { ...req.query }, 'query') : undefined;
      const result = await spec.handler({ body, query, params: req.params as Record<string, string>, req, res });
      if (res.headersSent) return;
      if (spec.status === 204) res.status(204).end();
      else if (result instanceof JsonText) res.status(spec.status).type('application/json').send(result.text);
      else res.status(spec.status).json(result);
    });
  }
}
