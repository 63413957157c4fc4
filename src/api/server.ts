import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Tracer } from '@opentelemetry/api';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { assertTargetAllowed, TargetRefusedError, type TargetPolicy } from '../../core/targets';
import { ValidationError } from '../errors';
import { storeIsReachable, type Store } from '../store';
import { temporalIsReachable } from '../temporal/connection';
import { DeliveryControl } from '../temporal/delivery-control';
import type { DeliveryMode } from '../../core/model';
import { DeliveryDispatcher, type DispatcherOptions } from '../temporal/dispatcher';
import type { DeliveryStartSettings } from '../temporal/delivery-start';
import { DeliveryReconciler } from '../temporal/reconciler';
import { OperationControl } from '../temporal/operation-control';
import type { ServiceMetrics } from '../metrics/service-metrics';
import { createApp } from './app';
import { createHttpServer } from './http-server';

export interface ApiServerDeps {
  readonly client: Client;
  readonly store: Store;
  readonly logger: Logger;
  readonly port: number;
  /** Interface to listen on. @default all interfaces */
  readonly host?: string;
  readonly apiKeys: readonly string[];
  readonly taskQueue: string;
  readonly attemptTimeoutMs: number;
  /** See DeliveryMode. @default 'per-delivery' */
  readonly deliveryMode?: DeliveryMode;
  /** Key deliveries' workflows by their account (WEBHOOKS_FAIRNESS). @default true */
  readonly fairness?: boolean;
  readonly maxBodyBytes: number;
  readonly temporalUiUrl: string;
  readonly targets: TargetPolicy;
  /**
   * Run the background loops: the outbox relay that retries undispatched events, and the
   * reconciler that repairs rows whose workflow closed without saying so. @default true
   */
  readonly relay?: boolean;
  /**
   * Dispatcher settings (see DispatcherOptions); `client` replaces `client` for starting
   * deliveries only (eager start needs one on the worker's NativeConnection). @default its defaults
   */
  readonly dispatch?: Partial<
    Pick<DispatcherOptions, 'startConcurrency' | 'eagerStart' | 'client' | 'firstAttemptWindow'>
  >;
  /** Counts requests, events and reconciled outcomes, and serves `GET /metrics`. @default none */
  readonly metrics?: ServiceMetrics;
  /** A span per request (tracing on). @default none */
  readonly tracer?: Tracer;
}

export interface ApiServer {
  readonly url: string;
  readonly server: Server;
  readonly dispatcher: DeliveryDispatcher;
  close(): Promise<void>;
}

export async function startApiServer(deps: ApiServerDeps): Promise<ApiServer> {
  const { client, store, logger } = deps;
  const settings: DeliveryStartSettings = {
    taskQueue: deps.taskQueue,
    attemptTimeoutMs: deps.attemptTimeoutMs,
    ...(deps.fairness !== undefined ? { fairness: deps.fairness } : {}),
  };
  const dispatcher = new DeliveryDispatcher({
    client,
    events: store.events,
    logger,
    ...settings,
    mode: deps.deliveryMode ?? 'per-delivery',
    attempted: (ids) => store.deliveries.attemptedAmong(ids),
    ...deps.dispatch,
  });
  const control = new DeliveryControl({ client, store, logger, ...settings });
  const reconciler = new DeliveryReconciler({
    client,
    deliveries: store.deliveries,
    logger,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
  const app = createApp({
    store,
    dispatcher,
    control,
    operations: new OperationControl({ client, store, taskQueue: deps.taskQueue }),
    logger,
    apiKeys: deps.apiKeys,
    maxBodyBytes: deps.maxBodyBytes,
    temporalUi: { baseUrl: deps.temporalUiUrl, namespace: client.options.namespace },
    validateTarget: async (url, path) => {
      try {
        await assertTargetAllowed(url, deps.targets);
      } catch (error) {
        if (error instanceof TargetRefusedError)
          throw new ValidationError(`invalid ${path}`, [{ path, message: error.message }]);
        throw error;
      }
    },
    metrics: deps.metrics,
    tracer: deps.tracer,
    health: async () => {
      const [storeOk, temporalOk] = await Promise.all([storeIsReachable(store.db), temporalIsReachable(client)]);
      return { store: storeOk, temporal: temporalOk };
    },
  });
  const server = createHttpServer(app, logger);
  if (deps.host === undefined) server.listen(deps.port);
  else server.listen(deps.port, deps.host);
  await once(server, 'listening');
  if (deps.relay !== false) {
    dispatcher.startRelay();
    reconciler.start();
  }
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${deps.host ?? '127.0.0.1'}:${port}`,
    server,
    dispatcher,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dispatcher.stop();
      await reconciler.stop();
      await control.stop();
    },
  };
}
