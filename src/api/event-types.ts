import { z } from 'zod';
import type { EventType } from '../../core/model';
import { isReservedEventType, RESERVED_EVENT_TYPE_PREFIX } from '../../core/operational-events';
import { ConflictError, ValidationError } from '../errors';
import type { Store } from '../store';
import { requireAdmin } from './auth';
import { route } from './route';
import { identifier, named, text } from './schemas';

const createEventType = z.strictObject({
  id: identifier('id'),
  description: text('description', 1024).default(''),
});

export const eventTypeView = named(
  'EventType',
  'output',
  z.object({ id: z.string(), description: z.string(), createdAt: z.iso.datetime() }),
);

const present = (eventType: EventType) => ({ ...eventType, createdAt: eventType.createdAt.toISOString() });

export function eventTypeRoutes(deps: { store: Store }) {
  return [
    route({
      method: 'post',
      operationId: 'createEventType',
      path: '/v1/event-types',
      tag: 'Event types',
      summary: 'Register an event type (admin keys only: the catalog is shared by every account)',
      body: createEventType,
      status: 201,
      response: eventTypeView,
      errors: [403, 409],
      handler: async ({ body, req }) => {
        requireAdmin(req);
        if (isReservedEventType(body.id)) {
          throw new ValidationError('reserved event type', [
            { path: 'id', message: `event types starting with '${RESERVED_EVENT_TYPE_PREFIX}' are the service's own` },
          ]);
        }
        const created = await deps.store.eventTypes.create(body);
        if (!created)
          throw new ConflictError(`event type '${body.id}' already exists`, [
            { path: 'id', message: 'already exists' },
          ]);
        return present(created);
      },
    }),
    route({
      method: 'get',
      operationId: 'listEventTypes',
      path: '/v1/event-types',
      tag: 'Event types',
      summary: 'List the event types',
      status: 200,
      response: z.object({ data: z.array(eventTypeView) }),
      handler: async () => ({ data: (await deps.store.eventTypes.list()).map(present) }),
    }),
  ];
}
