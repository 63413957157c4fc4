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

export interface RouteSpec<Body = unknown, Query = unknown> {
  readonly method: Method;
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
  readonly handler: (ctx: RouteContext<Body, Query>) => Promise<unknown>;
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
    const message = issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message;
    return { path: path || (prefix ?? 'body'), message };
  });
}

export function parseWith<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query'): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(`invalid request ${where}`, toFieldProblems(parsed.error, where === 'query' ? 'query' : undefined));
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
      else res.status(spec.status).json(result);
    });
  }
}
