import { z } from 'zod';
import type { EventType } from '../../core/model';
import { ConflictError } from '../errors';
import type { Store } from '../store';
import { requireAdmin } from './auth';
import { route } from './route';
import { clientEventType, named, text } from './schemas';

const createEventType = z.strictObject({
  id: clientEventType('id'),
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
