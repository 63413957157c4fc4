import type { RequestHandler } from 'express';
import type { ServiceMetrics } from '../metrics/service-metrics';
import { routeTemplates } from './route-template';

/** The status label of a request the client hung up on before its answer (as nginx logs it). */
const CLIENT_CLOSED = 499;

/**
 * Times every request and counts it by route template, method and status once it is answered
 * (or the client hung up: status 499).
 */
export function httpMetrics(metrics: ServiceMetrics, templates: readonly string[]): RequestHandler {
  const routeOf = routeTemplates(templates);
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
