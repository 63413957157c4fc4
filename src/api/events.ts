import { z } from 'zod';
import type { WebhookEvent } from '../../core/model';
import { newId } from '../../core/ids';
import { eventFingerprint } from '../../core/event-fingerprint';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors';
import type { Store } from '../store';
import type { ServiceMetrics } from '../metrics/service-metrics';
import type { DeliveryDispatcher } from '../temporal/dispatcher';
import { generateSecret } from '../../core/signing';
import { dataJsonOf } from '../store/events';
import { accountOf, principalOf } from './auth';
import { rawBodyOf } from './body';
import { canonicalJson, memberOf } from './json';
import { jsonObjectWithRaw, route } from './route';
import { anyJson, clientEventType, identifier, named, targetUrl } from './schemas';

const createEvent = z
  .strictObject({
    type: clientEventType('type'),
    data: anyJson('data').meta({
      description:
        'The payload: any JSON value. Stored, signed and delivered as the exact text sent (every key, every number as written).',
    }),
    accountId: identifier('accountId').optional(),
    id: identifier('id')
      .optional()
      .meta({ description: 'Makes ingestion idempotent; the Idempotency-Key header does the same.' }),
    callbackUrl: targetUrl('callbackUrl').optional().meta({
      description: 'Also deliver this event, once, to this URL, signed with the callbackSecret of the answer.',
    }),
  })
  .meta({
    examples: [
      { type: 'order.created', data: { orderId: 42, total: 12345678901234567890, note: 'café' } },
      { type: 'order.created', accountId: 'acme', id: 'order-42-created', data: null },
    ],
  });

const acceptedView = z.object({
  id: z.string(),
  type: z.string(),
  accountId: z.string().nullable(),
  createdAt: z.iso.datetime(),
  deliveryCount: z.number().int(),
  callbackSecret: z.string().optional().meta({
    description:
      'Signs the delivery to callbackUrl (present exactly when the event has one); the same in every answer for the event.',
  }),
});

const countsView = named(
  'DeliveryCounts',
  'output',
  z.object({
    total: z.number().int(),
    pending: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    cancelled: z.number().int(),
  }),
);

const eventView = named(
  'Event',
  'output',
  z.object({
    id: z.string(),
    type: z.string(),
    accountId: z.string().nullable(),
    data: anyJson('data').meta({ description: 'The payload, exactly as it was sent.' }),
    callbackUrl: z.string().nullable(),
    createdAt: z.iso.datetime(),
    deliveries: countsView,
  }),
);

export interface EventRouteDeps {
  readonly store: Store;
  readonly dispatcher: DeliveryDispatcher;
  readonly validateTarget: (url: string, path: string) => Promise<void>;
  /** Counts accepted events by type. @default none */
  readonly metrics?: Pick<ServiceMetrics, 'eventAccepted'> | undefined;
}

/** The id of an event: body `id`, else the Idempotency-Key header, else a new one. */
function eventId(bodyId: string | undefined, header: string | undefined): string {
  if (header === undefined) return bodyId ?? newId('evt');
  const key = identifier('Idempotency-Key').safeParse(header);
  if (!key.success)
    throw new ValidationError('invalid Idempotency-Key', [
      { path: 'headers.idempotency-key', message: key.error.issues[0]?.message ?? 'invalid' },
    ]);
  if (bodyId !== undefined && bodyId !== key.data) {
    throw new ValidationError('id and Idempotency-Key differ', [
      { path: 'id', message: 'must equal the Idempotency-Key header when both are sent' },
    ]);
  }
  return key.data;
}

const presentEvent = (event: WebhookEvent) => ({
  id: event.id,
  type: event.type,
  accountId: event.accountId,
  createdAt: event.createdAt.toISOString(),
});

export function eventRoutes(deps: EventRouteDeps) {
  const { store } = deps;
  return [
    route({
      method: 'post',
      operationId: 'publishEvent',
      path: '/v1/events',
      tag: 'Events',
      summary: 'Publish an event: it is stored durably, then delivered to every matching subscription',
      body: createEvent,
      status: 202,
      response: acceptedView,
      errors: [403, 409, 503],
      links: {
        GetEvent: { operationId: 'getEvent', parameters: { id: '$response.body#/id' } },
        ListDeliveriesOfEvent: { operationId: 'listDeliveries', parameters: { eventId: '$response.body#/id' } },
      },
      handler: async ({ body, req }) => {
        // An account key publishes for its own account only; without accountId, for its own.
        const principal = principalOf(req);
        if (principal.kind === 'account' && body.accountId !== undefined && body.accountId !== principal.accountId) {
          throw new ForbiddenError("an account key can only publish its own account's events", [
            { path: 'accountId', message: 'must be the account of this API key' },
          ]);
        }
        const id = eventId(body.id, req.header('idempotency-key'));
        if ((await store.eventTypes.unknown([body.type])).length > 0) {
          throw new ValidationError('unknown event type', [
            { path: 'type', message: `'${body.type}' is not a registered event type` },
          ]);
        }
        if (body.callbackUrl !== undefined) await deps.validateTarget(body.callbackUrl, 'callbackUrl');
        const accountId = principal.kind === 'account' ? principal.accountId : (body.accountId ?? null);
        const callbackUrl = body.callbackUrl ?? null;
        // The body reader kept the text: `data` is stored and delivered as it was sent.
        const raw = rawBodyOf(req);
        const dataNode = raw && memberOf(raw.root, 'data');
        if (!raw || !dataNode) throw new Error('POST /v1/events parsed without its raw body');
        const dataJson = raw.text.slice(dataNode.start, dataNode.end);
        const fingerprint = eventFingerprint({ type: body.type, accountId, callbackUrl }, canonicalJson(dataNode));
        const claimMs = deps.dispatcher.claimForNewEvent;
        const ingested = await store.events.ingest(
          {
            id,
            type: body.type,
            accountId,
            data: body.data,
            dataJson,
            callbackUrl,
            // Kept only if this post creates the event; a repeat answers with the stored one.
            callbackSecret: callbackUrl ? generateSecret() : null,
            fingerprint,
          },
          claimMs,
        );
        if (ingested.created) deps.metrics?.eventAccepted(ingested.event.type);
        if (ingested.plans.length > 0 || ingested.expanding)
          deps.dispatcher.dispatchSoon(id, ingested.plans, ingested.expanding, claimMs > 0);
        // The same answer however often the event is posted: all of it comes from the stored event.
        return {
          ...presentEvent(ingested.event),
          deliveryCount: ingested.deliveryCount,
          ...(ingested.callbackSecret !== null ? { callbackSecret: ingested.callbackSecret } : {}),
        };
      },
    }),
    route({
      method: 'get',
      operationId: 'getEvent',
      path: '/v1/events/:id',
      tag: 'Events',
      summary: 'Get an event, its payload and its deliveries counted by status',
      status: 200,
      response: eventView,
      errors: [404],
      links: {
        ListDeliveriesOfEvent: { operationId: 'listDeliveries', parameters: { eventId: '$response.body#/id' } },
      },
      handler: async ({ params, req }) => {
        const visibleTo = accountOf(principalOf(req));
        // Event ids are identifiers; anything else (a NUL, say) is no event and must not reach the store.
        const event = identifier('id').safeParse(params.id).success
          ? await store.events.get(params.id as string, visibleTo)
          : undefined;
        if (!event) throw new NotFoundError('event', params.id as string);
        // `data` goes out as the text that came in, not through JSON.parse and JSON.stringify.
        return jsonObjectWithRaw(
          {
            ...presentEvent(event),
            data: null,
            callbackUrl: event.callbackUrl,
            deliveries: await store.events.deliveryCounts(event.id, visibleTo),
          },
          { data: dataJsonOf(event) },
        );
      },
    }),
  ];
}
