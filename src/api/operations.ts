import { z } from 'zod';
import {
  OPERATION_KINDS,
  OPERATION_STATUSES,
  RECOVERABLE_STATUSES,
  type Operation,
  type OperationKind,
  type RecoverableStatus,
  type Subscription,
} from '../../core/model';
import { NotFoundError, ValidationError } from '../errors';
import type { Store } from '../store';
import type { OperationControl } from '../temporal/operation-control';
import { temporalUiUrl } from '../temporal/ui-url';
import { accountOf, principalOf, type Principal } from './auth';
import { route, type RouteLink } from './route';
import { apiCursor, listOf, named, pageQuery, resourceId, text } from './schemas';

const instant = (what: string) =>
  z.iso.datetime({ offset: true, error: `${what} must be an ISO 8601 date-time, e.g. "2026-11-30T09:00:00Z"` });

const windowFields = {
  since: instant('since').meta({ description: 'Events created at or after this instant.' }),
  until: instant('until')
    .optional()
    .meta({ description: 'Events created before this instant. Default: the moment the operation starts.' }),
};

const recoverRequest = named(
  'RecoverRequest',
  'input',
  z.strictObject({
    ...windowFields,
    statuses: z
      .array(z.enum(RECOVERABLE_STATUSES, { error: 'must be "failed" or "cancelled"' }))
      .min(1, 'must list at least one status')
      .max(RECOVERABLE_STATUSES.length, `must list at most ${RECOVERABLE_STATUSES.length} statuses`)
      .default(['failed'])
      .transform((statuses) => [...new Set(statuses)])
      .meta({ description: 'The statuses of the deliveries to resend. Default ["failed"].' }),
  }),
);

const replayRequest = named('ReplayRequest', 'input', z.strictObject(windowFields));

export const operationView = named(
  'Operation',
  'output',
  z
    .object({
      id: z.string(),
      kind: z.enum(OPERATION_KINDS),
      subscriptionId: z.string(),
      status: z.enum(OPERATION_STATUSES),
      filter: z.object({
        since: z.iso.datetime(),
        until: z.iso.datetime(),
        statuses: z.array(z.enum(RECOVERABLE_STATUSES)).optional().meta({ description: 'recover only' }),
      }),
      matched: z.number().int().meta({
        description:
          'Deliveries (recover) or events (replay) it takes: counted when it started, grown if it found more; once completed, what it did.',
      }),
      done: z.number().int().meta({ description: 'Those handled: resent (recover) or started (replay).' }),
      remaining: z.number().int(),
      startedAt: z.iso.datetime(),
      finishedAt: z.iso.datetime().nullable(),
      workflowId: z.string().meta({ description: '`recover/<id>` or `replay/<id>`' }),
      temporalUiUrl: z.string(),
    })
    .meta({
      description:
        'A bulk job on one subscription\'s deliveries, run by one Temporal workflow. status: "running", then "completed", "cancelled" (what was resent stays resent) or "failed".',
    }),
);

const listQuery = z.strictObject({
  subscriptionId: text('subscriptionId', 128).optional(),
  status: z.enum(OPERATION_STATUSES).optional(),
  ...pageQuery,
});

export interface OperationRouteDeps {
  readonly store: Store;
  readonly operations: OperationControl;
  readonly temporalUi: { readonly baseUrl: string; readonly namespace: string };
}

/** The window of a request: until defaults to now, and must come after since. */
function windowOf(body: { since: string; until?: string | undefined }): { since: Date; until: Date } {
  const since = new Date(body.since);
  const until = body.until === undefined ? new Date() : new Date(body.until);
  if (until.getTime() <= since.getTime()) {
    throw new ValidationError('invalid window', [
      body.until === undefined
        ? { path: 'since', message: 'must be in the past' }
        : { path: 'until', message: 'must be after since' },
    ]);
  }
  return { since, until };
}

const operationLinks = (at: string): Record<string, RouteLink> => ({
  GetOperation: { operationId: 'getOperation', parameters: { id: `$response.body#${at}/id` } },
  CancelOperation: { operationId: 'cancelOperation', parameters: { id: `$response.body#${at}/id` } },
});

export function operationRoutes(deps: OperationRouteDeps) {
  const present = (operation: Operation): z.infer<typeof operationView> => ({
    id: operation.id,
    kind: operation.kind,
    subscriptionId: operation.subscriptionId,
    status: operation.status,
    filter: {
      since: operation.filter.since.toISOString(),
      until: operation.filter.until.toISOString(),
      ...(operation.filter.statuses ? { statuses: [...operation.filter.statuses] } : {}),
    },
    matched: operation.matched,
    done: operation.done,
    remaining: Math.max(0, operation.matched - operation.done),
    startedAt: operation.startedAt.toISOString(),
    finishedAt: operation.finishedAt?.toISOString() ?? null,
    workflowId: operation.workflowId,
    temporalUiUrl: temporalUiUrl(deps.temporalUi.baseUrl, deps.temporalUi.namespace, operation.workflowId),
  });
  /** Another account's operation (or subscription) is as unknown as a missing one. */
  const find = async (id: string, principal: Principal): Promise<Operation> => {
    const operation = resourceId.safeParse(id).success
      ? await deps.store.operations.get(id, accountOf(principal))
      : undefined;
    if (!operation) throw new NotFoundError('operation', id);
    return operation;
  };
  const subscriptionOf = async (id: string, principal: Principal): Promise<Subscription> => {
    const subscription = resourceId.safeParse(id).success
      ? await deps.store.subscriptions.get(id, accountOf(principal))
      : undefined;
    if (!subscription) throw new NotFoundError('subscription', id);
    return subscription;
  };
  const start = async (
    kind: OperationKind,
    subscriptionId: string,
    principal: Principal,
    filter: { since: Date; until: Date; statuses?: RecoverableStatus[] },
  ) => {
    const subscription = await subscriptionOf(subscriptionId, principal);
    const operation = await deps.operations.start({
      kind,
      subscriptionId: subscription.id,
      accountId: subscription.accountId,
      filter,
    });
    return present(operation);
  };
  return [
    route({
      method: 'post',
      operationId: 'recoverSubscription',
      path: '/v1/subscriptions/:id/recover',
      tag: 'Operations',
      summary:
        'Resend every delivery of the subscription in the given statuses whose event was created in [since, until): a new run each, the same webhook-id, once each',
      body: recoverRequest,
      status: 202,
      response: operationView,
      errors: [404, 503],
      links: operationLinks(''),
      handler: ({ params, body, req }) =>
        start('recover', params.id as string, principalOf(req), { ...windowOf(body), statuses: body.statuses }),
    }),
    route({
      method: 'post',
      operationId: 'replaySubscription',
      path: '/v1/subscriptions/:id/replay',
      tag: 'Operations',
      summary:
        'Deliver to the subscription, oldest first, every event created in [since, until) that it matches now and has no delivery for',
      body: replayRequest,
      status: 202,
      response: operationView,
      errors: [404, 503],
      links: operationLinks(''),
      handler: ({ params, body, req }) => start('replay', params.id as string, principalOf(req), windowOf(body)),
    }),
    route({
      method: 'get',
      operationId: 'listOperations',
      path: '/v1/operations',
      tag: 'Operations',
      summary: 'List operations, newest first (filter by subscriptionId, status)',
      query: listQuery,
      status: 200,
      response: listOf(operationView),
      links: operationLinks('/data/0'),
      handler: async ({ query, req }) => {
        const page = await deps.store.operations.list({ ...query, visibleTo: accountOf(principalOf(req)) });
        return { data: page.items.map(present), nextCursor: apiCursor(page.nextCursor) };
      },
    }),
    route({
      method: 'get',
      operationId: 'getOperation',
      path: '/v1/operations/:id',
      tag: 'Operations',
      summary: 'Get an operation and its progress',
      status: 200,
      response: operationView,
      errors: [404],
      links: { CancelOperation: operationLinks('').CancelOperation as RouteLink },
      handler: async ({ params, req }) => present(await find(params.id as string, principalOf(req))),
    }),
    route({
      method: 'post',
      operationId: 'cancelOperation',
      path: '/v1/operations/:id/cancel',
      tag: 'Operations',
      summary:
        'Stop a running operation within seconds: 200 once it has ended cancelled (what was resent stays resent); 409 if it already completed or failed',
      status: 200,
      response: operationView,
      errors: [404, 409, 503],
      handler: async ({ params, req }) => {
        const principal = principalOf(req);
        const operation = await find(params.id as string, principal);
        await deps.operations.cancel(operation);
        return present(await find(operation.id, principal));
      },
    }),
  ];
}
