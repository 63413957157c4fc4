import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import { routeTemplates } from './route-template';

/**
 * A server span per request, named `<METHOD> <route template>`, continuing the trace of the
 * caller's `traceparent` when it sent one (a producer's trace then reaches the receiver). The
 * request runs in the span's context, so the workflow starts it causes are its children.
 */
export function traceRequests(tracer: Tracer, templates: readonly string[]): RequestHandler {
  const routeOf = routeTemplates(templates);
  return (req, res, next) => {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      req.method,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': req.method, 'url.path': req.path, 'url.scheme': 'http' },
      },
      parent,
    );
    res.once('close', () => {
      const route = routeOf(req);
      span.updateName(`${req.method} ${route}`);
      span.setAttribute('http.route', route);
      if (res.writableFinished) {
        span.setAttribute('http.response.status_code', res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      } else {
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client hung up before the answer' });
      }
      span.end();
    });
    const active = trace.setSpan(parent, span);
    // The body arrives in stream events, whose callbacks would otherwise run outside the span.
    context.bind(active, req);
    context.bind(active, res);
    context.with(active, next);
  };
}
