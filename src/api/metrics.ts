import type { Request, RequestHandler } from 'express';
import type { ServiceMetrics } from '../metrics/service-metrics';

/** The label of a request no route knows: its path is never a label value. */
export const UNMATCHED_ROUTE = 'unmatched';
/** The status label of a request the client hung up on before its answer (as nginx logs it). */
const CLIENT_CLOSED = 499;

/** The route template a path matches, by the same rules as Express (case-insensitive, optional trailing slash). */
function templateMatcher(templates: readonly string[]): (path: string) => string | undefined {
  const patterns = [...new Set(templates)].map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}/?$`, 'i'),
  }));
  return (path) => patterns.find(({ pattern }) => pattern.test(path))?.template;
}

/**
 * Times every request and counts it by route template, method and status once it is answered
 * (or the client hung up: status 499). The template is the route Express matched, else the
 * known path the URL fits (a 401 or 405 before any route ran), else `unmatched`.
 */
export function httpMetrics(metrics: ServiceMetrics, templates: readonly string[]): RequestHandler {
  const templateOf = templateMatcher(templates);
  const routeOf = (req: Request): string => {
    const matched = (req.route as { path?: unknown } | undefined)?.path;
    if (typeof matched === 'string') return `${req.baseUrl}${matched}`;
    return templateOf(req.path) ?? UNMATCHED_ROUTE;
  };
  return (req, res, next) => {
    const startedAt = process.hrtime.bigint();
    res.once('close', () => {
      metrics.httpRequest({
        method: req.method,
        route: routeOf(req),
        status: res.writableFinished ? res.statusCode : CLIENT_CLOSED,
        seconds: Number(process.hrtime.bigint() - startedAt) / 1e9,
      });
    });
    next();
  };
}

/** `GET /metrics`: Prometheus's text format. */
export function metricsEndpoint(metrics: ServiceMetrics): RequestHandler {
  return (_req, res, next) => {
    metrics.text().then((text) => res.type(metrics.contentType).send(text), next);
  };
}
