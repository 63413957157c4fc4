import type { Tracer } from '@opentelemetry/api';
import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Store } from '../store';
import type { DeliveryControl } from '../temporal/delivery-control';
import type { DeliveryDispatcher } from '../temporal/dispatcher';
import type { OperationControl } from '../temporal/operation-control';
import { apiKeyRoutes } from './api-keys';
import { requireApiKey } from './auth';
import { deliveryRoutes } from './deliveries';
import { jsonBody } from './body';
import type { ServiceMetrics } from '../metrics/service-metrics';
import { httpMetrics, metricsEndpoint } from './metrics';
import { traceRequests } from './tracing';
import { errorHandler, sendError } from './errors';
import { eventTypeRoutes } from './event-types';
import { eventRoutes } from './events';
import { openApiDocument } from './openapi';
import { operationRoutes } from './operations';
import { mountRoutes, type Route } from './route';
import { subscriptionRoutes } from './subscriptions';

export interface AppDeps {
  readonly store: Store;
  readonly dispatcher: DeliveryDispatcher;
  readonly control: DeliveryControl;
  /** Starts and cancels bulk operations (recover, replay). */
  readonly operations: OperationControl;
  readonly logger: Logger;
  readonly apiKeys: readonly string[];
  readonly maxBodyBytes: number;
  readonly temporalUi: { readonly baseUrl: string; readonly namespace: string };
  /** Throws ValidationError naming `path` when a delivery target is not allowed. */
  readonly validateTarget: (url: string, path: string) => Promise<void>;
  /** Reports whether each dependency answers, for /healthz. */
  readonly health: () => Promise<Record<string, boolean>>;
  /** Counts requests and serves `GET /metrics`; undefined: neither. */
  readonly metrics?: ServiceMetrics | undefined;
  /** A span per request (tracing on); undefined: none. */
  readonly tracer?: Tracer | undefined;
}

/**
 * Answers 405 with `Allow` to a method a known path does not support (HEAD goes wherever GET
 * does; OPTIONS is not supported). Paths match as Express matches them: case-insensitively, with
 * an optional trailing slash. Runs before authentication: which methods a path has is public
 * (GET /openapi.json).
 */
export function methodNotAllowed(paths: ReadonlyArray<{ path: string; method: string }>): RequestHandler {
  const byPath = new Map<string, Set<string>>();
  for (const { path, method } of paths) {
    const methods = byPath.get(path) ?? new Set<string>();
    methods.add(method.toUpperCase());
    if (method.toUpperCase() === 'GET') methods.add('HEAD');
    byPath.set(path, methods);
  }
  const matchers = [...byPath].map(([path, methods]) => ({
    pattern: new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}/?$`, 'i'),
    methods,
  }));
  return (req, res, next) => {
    const allowed = new Set<string>();
    for (const { pattern, methods } of matchers) if (pattern.test(req.path)) for (const m of methods) allowed.add(m);
    if (allowed.size === 0 || allowed.has(req.method)) {
      next();
      return;
    }
    const allow = [...allowed].join(', ');
    res.setHeader('allow', allow);
    sendError(res, 405, 'method_not_allowed', `${req.method} is not supported here; use ${allow}`, [
      { path: 'method', message: `must be one of ${allow}` },
    ]);
  };
}

export function apiRoutes(deps: AppDeps): Route[] {
  return [
    ...eventTypeRoutes(deps),
    ...subscriptionRoutes({
      ...deps,
      cancelPendingDeliveries: (id) => deps.control.cancelPendingOf(id),
      resumePendingDeliveries: (id) => deps.control.resumePendingOf(id),
    }),
    ...eventRoutes(deps),
    ...deliveryRoutes(deps),
    ...operationRoutes(deps),
    ...apiKeyRoutes(deps),
  ];
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const routes = apiRoutes(deps);
  const openapi = openApiDocument(routes, '1.0.0');
  const unauthenticated = [
    { path: '/healthz', method: 'get' },
    { path: '/openapi.json', method: 'get' },
    ...(deps.metrics ? [{ path: '/metrics', method: 'get' }] : []),
  ];

  const templates = [...unauthenticated, ...routes].map(({ path }) => path);
  if (deps.tracer) app.use(traceRequests(deps.tracer, templates));
  if (deps.metrics) {
    app.use(httpMetrics(deps.metrics, templates));
    // Like /healthz, no key: Prometheus scrapes it. It names no account, subscription or delivery.
    app.get('/metrics', metricsEndpoint(deps.metrics));
  }
  app.get('/healthz', async (_req, res) => {
    const checks = await deps.health();
    const healthy = Object.values(checks).every(Boolean);
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'unavailable', checks });
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  app.use(methodNotAllowed([...unauthenticated, ...routes.map(({ path, method }) => ({ path, method }))]));

  const v1 = express.Router();
  v1.use(requireApiKey(deps.apiKeys, deps.store.apiKeys));
  v1.use(jsonBody(deps.maxBodyBytes));
  mountRoutes(v1, routes);
  v1.use((req, res) => sendError(res, 404, 'not_found', `no route ${req.method} ${req.originalUrl.split('?')[0]}`));
  app.use(v1);

  app.use((req, res) => sendError(res, 404, 'not_found', `no route ${req.method} ${req.path}`));
  app.use(errorHandler(deps.logger));
  return app;
}
