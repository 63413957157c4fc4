import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Store } from '../store';
import type { DeliveryControl } from '../temporal/delivery-control';
import type { DeliveryDispatcher } from '../temporal/dispatcher';
import { apiKeyRoutes } from './api-keys';
import { requireApiKey } from './auth';
import { deliveryRoutes } from './deliveries';
import { UnsupportedMediaTypeError } from '../errors';
import { errorHandler, sendError } from './errors';
import { eventTypeRoutes } from './event-types';
import { eventRoutes } from './events';
import { openApiDocument } from './openapi';
import { mountRoutes, type Route } from './route';
import { subscriptionRoutes } from './subscriptions';

export interface AppDeps {
  readonly store: Store;
  readonly dispatcher: DeliveryDispatcher;
  readonly control: DeliveryControl;
  readonly logger: Logger;
  readonly apiKeys: readonly string[];
  readonly maxBodyBytes: number;
  readonly temporalUi: { readonly baseUrl: string; readonly namespace: string };
  /** Throws ValidationError naming `path` when a delivery target is not allowed. */
  readonly validateTarget: (url: string, path: string) => Promise<void>;
  /** Reports whether each dependency answers, for /healthz. */
  readonly health: () => Promise<Record<string, boolean>>;
}

/** Bodies must be JSON; a request without a body needs no content type. */
const requireJson: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && !req.is('application/json')) {
    next(
      new UnsupportedMediaTypeError('request body must be application/json', [
        { path: 'content-type', message: 'must be application/json' },
      ]),
    );
    return;
  }
  next();
};

export function apiRoutes(deps: AppDeps): Route[] {
  return [
    ...eventTypeRoutes(deps),
    ...subscriptionRoutes({ ...deps, cancelPendingDeliveries: (id) => deps.control.cancelPendingOf(id) }),
    ...eventRoutes(deps),
    ...deliveryRoutes(deps),
    ...apiKeyRoutes(deps),
  ];
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const routes = apiRoutes(deps);
  const openapi = openApiDocument(routes, '1.0.0');

  app.get('/healthz', async (_req, res) => {
    const checks = await deps.health();
    const healthy = Object.values(checks).every(Boolean);
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'unavailable', checks });
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  const v1 = express.Router();
  v1.use(requireApiKey(deps.apiKeys, deps.store.apiKeys));
  v1.use(requireJson);
  v1.use(express.json({ limit: deps.maxBodyBytes, strict: true }));
  mountRoutes(v1, routes);
  v1.use((req, res) => sendError(res, 404, 'not_found', `no route ${req.method} ${req.originalUrl.split('?')[0]}`));
  app.use(v1);

  app.use((req, res) => sendError(res, 404, 'not_found', `no route ${req.method} ${req.path}`));
  app.use(errorHandler(deps.logger));
  return app;
}
