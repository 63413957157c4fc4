import type { Request } from 'express';

/** The label (and span name part) of a request no route knows: its path is never used. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * The route template of a request, for metrics and spans: the route Express matched
 * (`/v1/deliveries/:id`), else the known template the path fits (a 401 or 405 answered before any
 * route ran), else `unmatched`. Templates match as Express matches them: case-insensitively, with
 * an optional trailing slash.
 */
export function routeTemplates(templates: readonly string[]): (req: Request) => string {
  const patterns = [...new Set(templates)].map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}/?$`, 'i'),
  }));
  return (req) => {
    const matched = (req.route as { path?: unknown } | undefined)?.path;
    if (typeof matched === 'string') return `${req.baseUrl}${matched}`;
    return patterns.find(({ pattern }) => pattern.test(req.path))?.template ?? UNMATCHED_ROUTE;
  };
}
