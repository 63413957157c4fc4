import { z } from 'zod';
import { DELIVERY_STATUSES, type Attempt, type Delivery } from '../../core/model';
import { NotFoundError } from '../errors';
import { decodeNumberCursor } from '../store/pagination';
import type { Store } from '../store';
import type { DeliveryControl } from '../temporal/delivery-control';
import { temporalUiUrl } from '../temporal/ui-url';
import { accountOf, principalOf, type Principal } from './auth';
import { route } from './route';
import { apiAttemptCursor, apiCursor, attemptPageQuery, listOf, named, pageQuery, resourceId, text } from './schemas';

const listQuery = z.strictObject({
  eventId: text('eventId', 128).optional(),
  subscriptionId: text('subscriptionId', 128).optional(),
  status: z.enum(DELIVERY_STATUSES).optional(),
  ...pageQuery,
});

/**
 * Attempts a delivery read or list embeds: the most recent ones. A delivery retried for 48 h may
 * have made hundreds; `attemptCount` counts them all, and GET /v1/deliveries/:id/attempts pages
 * through them.
 */
const EMBEDDED_ATTEMPTS = 20;

const attemptView = named(
  'Attempt',
  'output',
  z.object({
    attempt: z.number().int(),
    startedAt: z.iso.datetime(),
    durationMs: z.number().int(),
    statusCode: z.number().int().optional(),
    error: z.string().optional(),
    responseBody: z.string().optional().meta({ description: "The first 1 KiB of the receiver's answer." }),
  }),
);

export const deliveryView = named(
  'Delivery',
  'output',
  z.object({
    id: z.string(),
    eventId: z.string(),
    eventType: z.string(),
    subscriptionId: z.string().nullable().meta({ description: "null for the delivery to an event's callbackUrl" }),
    accountId: z.string().nullable(),
    url: z.string(),
    status: z.enum(DELIVERY_STATUSES),
    attemptCount: z.number().int(),
    nextAttemptAt: z.iso.datetime().nullable(),
    attempts: z.array(attemptView).meta({
      description: `The last ${EMBEDDED_ATTEMPTS} attempts, oldest first; attemptCount counts all of them, and GET /v1/deliveries/{id}/attempts pages through them.`,
    }),
    workflowId: z.string().meta({
      description:
        "The delivery's workflow; in throughput mode (WEBHOOKS_DELIVERY_MODE=per-subscriber), for a delivery delivered on its first attempt, the subscriber workflow that made it",
    }),
    temporalUiUrl: z
      .string()
      .meta({ description: 'The workflow in the Temporal UI (that run, for a subscriber workflow)' }),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  }),
);

const presentAttempt = (attempt: Attempt): z.infer<typeof attemptView> => ({
  attempt: attempt.attempt,
  startedAt: attempt.startedAt.toISOString(),
  durationMs: attempt.durationMs,
  ...(attempt.statusCode !== null ? { statusCode: attempt.statusCode } : {}),
  ...(attempt.error !== null ? { error: attempt.error } : {}),
  ...(attempt.responseBody !== null ? { responseBody: attempt.responseBody } : {}),
});

export interface DeliveryRouteDeps {
  readonly store: Store;
  readonly control: DeliveryControl;
  readonly temporalUi: { readonly baseUrl: string; readonly namespace: string };
}

export function deliveryRoutes(deps: DeliveryRouteDeps) {
  const { store } = deps;
  const present = (delivery: Delivery, attempts: readonly Attempt[]): z.infer<typeof deliveryView> => ({
    id: delivery.id,
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    subscriptionId: delivery.subscriptionId,
    accountId: delivery.accountId,
    url: delivery.url,
    status: delivery.status,
    attemptCount: delivery.attemptCount,
    nextAttemptAt: delivery.nextAttemptAt?.toISOString() ?? null,
    attempts: attempts.map(presentAttempt),
    // Delivered on its first attempt in throughput mode: the subscriber workflow's run that did it.
    workflowId: delivery.fastPathRun?.workflowId ?? delivery.workflowId,
    temporalUiUrl: temporalUiUrl(
      deps.temporalUi.baseUrl,
      deps.temporalUi.namespace,
      delivery.fastPathRun?.workflowId ?? delivery.workflowId,
      delivery.fastPathRun?.runId,
    ),
    createdAt: delivery.createdAt.toISOString(),
    updatedAt: delivery.updatedAt.toISOString(),
  });
  const find = async (id: string, principal: Principal): Promise<Delivery> => {
    const delivery = resourceId.safeParse(id).success
      ? await store.deliveries.get(id, accountOf(principal))
      : undefined;
    if (!delivery) throw new NotFoundError('delivery', id);
    return delivery;
  };
  const show = async (id: string, principal: Principal): Promise<z.infer<typeof deliveryView>> => {
    const delivery = await find(id, principal);
    const attempts = await store.deliveries.recentAttemptsOf([id], EMBEDDED_ATTEMPTS);
    return present(delivery, attempts.get(id) ?? []);
  };
  return [
    route({
      method: 'get',
      operationId: 'listDeliveries',
      path: '/v1/deliveries',
      tag: 'Deliveries',
      summary: 'List deliveries, newest first (filter by eventId, subscriptionId, status)',
      query: listQuery,
      status: 200,
      response: listOf(deliveryView),
      links: {
        GetDelivery: { operationId: 'getDelivery', parameters: { id: '$response.body#/data/0/id' } },
        ListDeliveryAttempts: { operationId: 'listDeliveryAttempts', parameters: { id: '$response.body#/data/0/id' } },
        CancelDelivery: { operationId: 'cancelDelivery', parameters: { id: '$response.body#/data/0/id' } },
        ResendDelivery: { operationId: 'resendDelivery', parameters: { id: '$response.body#/data/0/id' } },
      },
      handler: async ({ query, req }) => {
        const principal = principalOf(req);
        const page = await store.deliveries.list({ ...query, visibleTo: accountOf(principal) });
        const attempts = await store.deliveries.recentAttemptsOf(
          page.items.map((delivery) => delivery.id),
          EMBEDDED_ATTEMPTS,
        );
        return {
          data: page.items.map((delivery) => present(delivery, attempts.get(delivery.id) ?? [])),
          nextCursor: apiCursor(page.nextCursor),
        };
      },
    }),
    route({
      method: 'get',
      operationId: 'getDelivery',
      path: '/v1/deliveries/:id',
      tag: 'Deliveries',
      summary: 'Get a delivery and its attempts',
      status: 200,
      response: deliveryView,
      errors: [404],
      links: {
        ListDeliveryAttempts: { operationId: 'listDeliveryAttempts', parameters: { id: '$response.body#/id' } },
        CancelDelivery: { operationId: 'cancelDelivery', parameters: { id: '$response.body#/id' } },
        ResendDelivery: { operationId: 'resendDelivery', parameters: { id: '$response.body#/id' } },
      },
      handler: ({ params, req }) => show(params.id as string, principalOf(req)),
    }),
    route({
      method: 'get',
      operationId: 'listDeliveryAttempts',
      path: '/v1/deliveries/:id/attempts',
      tag: 'Deliveries',
      summary: 'Every attempt of a delivery, oldest first, a page at a time',
      query: z.strictObject(attemptPageQuery),
      status: 200,
      response: listOf(attemptView),
      errors: [404],
      handler: async ({ params, query, req }) => {
        const delivery = await find(params.id as string, principalOf(req));
        const page = await store.deliveries.attemptsPage(delivery.id, decodeNumberCursor(query.cursor), query.limit);
        return { data: page.items.map(presentAttempt), nextCursor: apiAttemptCursor(page.nextCursor) };
      },
    }),
    route({
      method: 'post',
      operationId: 'cancelDelivery',
      path: '/v1/deliveries/:id/cancel',
      tag: 'Deliveries',
      summary: 'Cancel a pending delivery; an attempt in flight is aborted',
      status: 200,
      response: deliveryView,
      errors: [404, 409, 503],
      handler: async ({ params, req }) => {
        const principal = principalOf(req);
        await deps.control.cancel(await find(params.id as string, principal));
        return show(params.id as string, principal);
      },
    }),
    route({
      method: 'post',
      operationId: 'resendDelivery',
      path: '/v1/deliveries/:id/resend',
      tag: 'Deliveries',
      summary:
        'Attempt now: skips the backoff of a pending delivery, or delivers a finished one again with a fresh 48 h window',
      status: 202,
      response: deliveryView,
      errors: [404, 409, 503],
      handler: async ({ params, req }) => {
        const principal = principalOf(req);
        await deps.control.resend(await find(params.id as string, principal));
        return show(params.id as string, principal);
      },
    }),
  ];
}
