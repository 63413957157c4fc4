import { z } from 'zod';
import { formatDuration } from '../../core/duration';
import {
  ALL_EVENT_TYPES,
  SUBSCRIPTION_HEALTH_STATUSES,
  type Subscription,
  type SubscriptionHealth,
} from '../../core/model';
import { ForbiddenError, NotFoundError, ValidationError, type FieldProblem } from '../errors';
import type { Store } from '../store';
import {
  DEFAULT_RETRY_POLICY,
  MAX_DELIVERY_WINDOW_MS,
  MAX_PLANNED_ATTEMPTS,
  plannedAttempts,
  RETRY_POLICY_LIMITS,
  type DeliveryRetryPolicy,
} from '../../core/retry-policy';
import { MAX_THROTTLE_RATE } from '../../core/throttle';
import { generateSecret, isValidSecret } from '../../core/signing';
import { accountOf, principalOf, type Principal } from './auth';
import { route } from './route';
import {
  apiCursor,
  booleanQuery,
  duration,
  identifier,
  listOf,
  named,
  pageQuery,
  resourceId,
  targetUrl,
  text,
} from './schemas';

/**
 * A signing secret as Standard Webhooks libraries take it: `whsec_` and standard base64 (padded
 * or not) of 24 to 64 bytes. The pattern is the rule: every string it matches decodes to 24–64
 * bytes (isValidSecret agrees), and no other string is taken.
 */
const SECRET_PATTERN =
  /^whsec_(?:[A-Za-z0-9+/]{4}){8,21}(?:[A-Za-z0-9+/]{2}(?:==)?)?$|^whsec_(?:[A-Za-z0-9+/]{4}){8,20}[A-Za-z0-9+/]{3}=?$/;

const secretInput = z
  .string({ error: 'secret must be a string' })
  .regex(SECRET_PATTERN, 'must be "whsec_" followed by base64 of 24 to 64 bytes')
  .refine(isValidSecret, { message: 'must be "whsec_" followed by base64 of 24 to 64 bytes' });

/** Headers the service sets itself; a subscription may not override them. */
const RESERVED_HEADER =
  /^(host|content-length|content-type|user-agent|connection|transfer-encoding|te|upgrade|expect|keep-alive|proxy-.*|webhook-.*)$/i;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
const MAX_HEADERS = 20;
const MAX_EVENT_TYPES = 100;

const customHeaders = z
  .record(
    z
      .string()
      .regex(HEADER_NAME, 'header names must be HTTP tokens of at most 64 characters')
      .refine((name) => !RESERVED_HEADER.test(name), {
        message: 'this header is set by the service and cannot be overridden',
      }),
    z
      .string({ error: 'header values must be strings' })
      .max(1024, 'header values must be at most 1024 characters')
      .refine((value) => !/[\r\n\0]/.test(value), {
        message: 'header values must not contain CR, LF or NUL',
        abort: true,
      })
      // Anything else outside printable ASCII would make every attempt fail in the HTTP client.
      .refine((value) => /^[\t\x20-\x7e]*$/.test(value), { message: 'header values must be printable ASCII' })
      .meta({ pattern: '^[\\t\\x20-\\x7e]*$' }),
  )
  .refine((headers) => Object.keys(headers).length <= MAX_HEADERS, { message: `at most ${MAX_HEADERS} headers` })
  .meta({
    maxProperties: MAX_HEADERS,
    description:
      'Extra headers sent with every delivery. Names the service sets (host, content-*, user-agent, connection, transfer-encoding, te, upgrade, expect, keep-alive, proxy-*, webhook-*) are refused.',
  });

const eventTypeList = z
  .array(z.union([z.literal(ALL_EVENT_TYPES), identifier('event type')]))
  .min(1, 'must list at least one event type, or ["*"]')
  .max(MAX_EVENT_TYPES, `must list at most ${MAX_EVENT_TYPES} event types`)
  .refine((types) => !types.includes(ALL_EVENT_TYPES) || types.length === 1, { message: '"*" must be the only entry' })
  .transform((types) => [...new Set(types)]);

const retryPolicyInput = named(
  'RetryPolicySettings',
  'input',
  z
    .strictObject({
      initialInterval: duration.optional(),
      backoffCoefficient: z
        .number()
        .min(RETRY_POLICY_LIMITS.minBackoffCoefficient)
        .max(RETRY_POLICY_LIMITS.maxBackoffCoefficient)
        .optional(),
      maximumInterval: duration.optional(),
      maximumAttempts: z.number().int().min(1).max(RETRY_POLICY_LIMITS.maxAttempts).nullable().optional(),
      maxDuration: duration.optional(),
    })
    .meta({
      description:
        'Defaults: initialInterval "10s", backoffCoefficient 2, maximumInterval "1h", maximumAttempts null (no limit), maxDuration "48h" (the most allowed). initialInterval and maximumInterval are 1s–24h (maximumInterval at least initialInterval), maxDuration 1s–48h, and the policy may plan at most 2,000 attempts in its window.',
    }),
);

type RetryPolicyInput = z.infer<typeof retryPolicyInput>;

/** Applies defaults and the bounds of each field; problems are reported under `retryPolicy.*`. */
export function resolveRetryPolicy(
  input: RetryPolicyInput | undefined,
  base: DeliveryRetryPolicy = DEFAULT_RETRY_POLICY,
): DeliveryRetryPolicy {
  const policy: DeliveryRetryPolicy = {
    initialIntervalMs: input?.initialInterval ?? base.initialIntervalMs,
    backoffCoefficient: input?.backoffCoefficient ?? base.backoffCoefficient,
    maximumIntervalMs: input?.maximumInterval ?? base.maximumIntervalMs,
    maximumAttempts: input?.maximumAttempts === undefined ? base.maximumAttempts : input.maximumAttempts,
    maxDurationMs: input?.maxDuration ?? base.maxDurationMs,
  };
  const problems: FieldProblem[] = [];
  const { minIntervalMs, maxIntervalMs, minDurationMs } = RETRY_POLICY_LIMITS;
  if (policy.initialIntervalMs < minIntervalMs || policy.initialIntervalMs > maxIntervalMs) {
    problems.push({
      path: 'retryPolicy.initialInterval',
      message: `must be between ${formatDuration(minIntervalMs)} and ${formatDuration(maxIntervalMs)}`,
    });
  }
  if (policy.maximumIntervalMs < policy.initialIntervalMs || policy.maximumIntervalMs > maxIntervalMs) {
    problems.push({
      path: 'retryPolicy.maximumInterval',
      message: `must be between initialInterval and ${formatDuration(maxIntervalMs)}`,
    });
  }
  if (policy.maxDurationMs < minDurationMs || policy.maxDurationMs > MAX_DELIVERY_WINDOW_MS) {
    problems.push({
      path: 'retryPolicy.maxDuration',
      message: `must be between ${formatDuration(minDurationMs)} and 48h`,
    });
  }
  if (problems.length === 0 && plannedAttempts(policy) > MAX_PLANNED_ATTEMPTS) {
    problems.push({
      path: 'retryPolicy',
      message: `would make more than ${MAX_PLANNED_ATTEMPTS} attempts in ${formatDuration(policy.maxDurationMs)}; lengthen initialInterval or maximumInterval, raise backoffCoefficient, or set maximumAttempts or a shorter maxDuration`,
    });
  }
  if (problems.length > 0) throw new ValidationError('invalid retry policy', problems);
  return policy;
}

const throttleRate = z
  .number({ error: 'must be a number of deliveries per second, or null' })
  .gt(0, { message: 'must be greater than 0' })
  .lte(MAX_THROTTLE_RATE, { message: `must be at most ${MAX_THROTTLE_RATE}` })
  .meta({
    description:
      'Deliveries per second to this subscription, across all workers; null (the default) for no limit. A delivery waiting for its turn holds no worker and uses no attempt; its retry window keeps running.',
  });

const createSubscription = z
  .strictObject({
    url: targetUrl('url'),
    eventTypes: eventTypeList,
    accountId: identifier('accountId').optional(),
    active: z.boolean().default(true),
    paused: z.boolean().default(false).meta({
      description:
        'While paused nothing is posted to the subscription and no attempt is used: its deliveries wait (their retry window keeps running) and go out within seconds of PATCH {"paused": false}. New events still create deliveries.',
    }),
    throttleRate: throttleRate.nullable().default(null),
    description: text('description', 1024).default(''),
    headers: customHeaders.default({}),
    secret: secretInput.optional(),
    retryPolicy: retryPolicyInput.optional(),
  })
  .meta({
    examples: [
      { url: 'https://hooks.example.com/webhook', eventTypes: ['order.created'] },
      {
        url: 'https://hooks.example.com/acme',
        eventTypes: ['*'],
        accountId: 'acme',
        headers: { 'x-tenant': 'acme' },
        retryPolicy: { initialInterval: '5m', backoffCoefficient: 1, maximumAttempts: 15 },
      },
    ],
  });

const updateSubscription = createSubscription
  .omit({ accountId: true, secret: true })
  .partial()
  .extend({
    active: z.boolean().optional(),
    paused: z.boolean().optional(),
    throttleRate: throttleRate.nullable().optional(),
    description: text('description', 1024).optional(),
    headers: customHeaders.optional(),
  });

/** How long a replaced secret stays valid after a rotation. */
const DEFAULT_GRACE_PERIOD_MS = 24 * 3_600_000;
const MAX_GRACE_PERIOD_MS = 7 * 24 * 3_600_000;

const rotateSecret = z.strictObject({
  secret: secretInput.optional(),
  gracePeriod: duration
    .refine((ms) => ms <= MAX_GRACE_PERIOD_MS, { message: 'must be at most 7d' })
    .optional()
    .meta({
      description:
        'How long the old secret stays valid (deliveries carry both signatures meanwhile). Default "24h"; "0s" drops it at once.',
    }),
});

const listQuery = z.strictObject({
  eventType: text('eventType', 128).optional(),
  accountId: text('accountId', 128).optional(),
  active: booleanQuery.optional(),
  ...pageQuery,
});

export const retryPolicyView = named(
  'RetryPolicy',
  'output',
  z.object({
    initialInterval: z.string(),
    backoffCoefficient: z.number(),
    maximumInterval: z.string(),
    maximumAttempts: z.number().nullable(),
    maxDuration: z.string(),
  }),
);

export const subscriptionHealthView = named(
  'SubscriptionHealth',
  'output',
  z
    .object({
      status: z.enum(SUBSCRIPTION_HEALTH_STATUSES),
      consecutiveFailures: z.number().int(),
      lastSuccessAt: z.iso.datetime().nullable(),
      lastFailureAt: z.iso.datetime().nullable(),
      failingSince: z.iso.datetime().nullable(),
      disabledAt: z.iso.datetime().nullable(),
      disabledReason: z.string().nullable(),
    })
    .meta({
      description:
        'Kept current by every attempt. "disabled": switched off for its failures (a 410 Gone, or no success for WEBHOOKS_DISABLE_AFTER), with when and why; "failing": its last attempt failed; "healthy" otherwise. PATCH {"active": true} re-enables a subscription and starts its health afresh.',
    }),
);

export const subscriptionView = named(
  'Subscription',
  'output',
  z.object({
    id: z.string(),
    url: z.string(),
    eventTypes: z.array(z.string()),
    accountId: z.string().nullable(),
    active: z.boolean(),
    paused: z.boolean(),
    throttleRate: z.number().nullable(),
    description: z.string(),
    headers: z.record(z.string(), z.string()),
    retryPolicy: retryPolicyView,
    health: subscriptionHealthView,
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  }),
);

const iso = (date: Date | null): string | null => date?.toISOString() ?? null;

const presentHealth = (health: SubscriptionHealth): z.infer<typeof subscriptionHealthView> => ({
  status: health.status,
  consecutiveFailures: health.consecutiveFailures,
  lastSuccessAt: iso(health.lastSuccessAt),
  lastFailureAt: iso(health.lastFailureAt),
  failingSince: iso(health.failingSince),
  disabledAt: iso(health.disabledAt),
  disabledReason: health.disabledReason,
});

const presentRetryPolicy = (policy: DeliveryRetryPolicy): z.infer<typeof retryPolicyView> => ({
  initialInterval: formatDuration(policy.initialIntervalMs),
  backoffCoefficient: policy.backoffCoefficient,
  maximumInterval: formatDuration(policy.maximumIntervalMs),
  maximumAttempts: policy.maximumAttempts,
  maxDuration: formatDuration(policy.maxDurationMs),
});

export const presentSubscription = (subscription: Subscription): z.infer<typeof subscriptionView> => ({
  ...subscription,
  eventTypes: [...subscription.eventTypes],
  headers: { ...subscription.headers },
  retryPolicy: presentRetryPolicy(subscription.retryPolicy),
  health: presentHealth(subscription.health),
  createdAt: subscription.createdAt.toISOString(),
  updatedAt: subscription.updatedAt.toISOString(),
});

export interface SubscriptionRouteDeps {
  readonly store: Store;
  /** Throws ValidationError (path "url") when the target is not allowed. */
  readonly validateTarget: (url: string, path: string) => Promise<void>;
  /** Cancels, in the background, the pending deliveries of a deleted or deactivated subscription. */
  readonly cancelPendingDeliveries: (subscriptionId: string) => void;
  /** Wakes the deliveries of a resumed subscription. */
  readonly resumePendingDeliveries: (subscriptionId: string) => void;
}

async function checkEventTypes(store: Store, eventTypes: readonly string[]): Promise<void> {
  const unknown = await store.eventTypes.unknown(eventTypes.filter((type) => type !== ALL_EVENT_TYPES));
  if (unknown.length > 0) {
    throw new ValidationError(
      'unknown event type',
      unknown.map((type) => ({
        path: `eventTypes.${eventTypes.indexOf(type)}`,
        message: `'${type}' is not a registered event type`,
      })),
    );
  }
}

export function subscriptionRoutes(deps: SubscriptionRouteDeps) {
  const { store } = deps;
  /** Another account's subscription is as unknown as a missing one: ids leak nothing. */
  const find = async (id: string, principal: Principal): Promise<Subscription> => {
    const subscription = resourceId.safeParse(id).success
      ? await store.subscriptions.get(id, accountOf(principal))
      : undefined;
    if (!subscription) throw new NotFoundError('subscription', id);
    return subscription;
  };
  return [
    route({
      method: 'post',
      operationId: 'createSubscription',
      path: '/v1/subscriptions',
      tag: 'Subscriptions',
      summary: 'Create a subscription; the answer carries its signing secret',
      body: createSubscription,
      status: 201,
      response: subscriptionView.extend({ secret: z.string() }),
      errors: [403],
      links: {
        GetSubscription: { operationId: 'getSubscription', parameters: { id: '$response.body#/id' } },
        UpdateSubscription: { operationId: 'updateSubscription', parameters: { id: '$response.body#/id' } },
        DeleteSubscription: { operationId: 'deleteSubscription', parameters: { id: '$response.body#/id' } },
        GetSubscriptionSecret: { operationId: 'getSubscriptionSecret', parameters: { id: '$response.body#/id' } },
        RotateSubscriptionSecret: { operationId: 'rotateSubscriptionSecret', parameters: { id: '$response.body#/id' } },
        ListDeliveriesOfSubscription: {
          operationId: 'listDeliveries',
          parameters: { subscriptionId: '$response.body#/id' },
        },
        RecoverSubscription: { operationId: 'recoverSubscription', parameters: { id: '$response.body#/id' } },
        ReplaySubscription: { operationId: 'replaySubscription', parameters: { id: '$response.body#/id' } },
      },
      handler: async ({ body, req }) => {
        // An account key creates subscriptions of its own account only (never vendor level).
        const own = accountOf(principalOf(req));
        if (own !== undefined && body.accountId !== undefined && body.accountId !== own) {
          throw new ForbiddenError("an account key can only create its own account's subscriptions", [
            { path: 'accountId', message: 'must be the account of this API key' },
          ]);
        }
        const accountId = own ?? body.accountId ?? null;
        await deps.validateTarget(body.url, 'url');
        await checkEventTypes(store, body.eventTypes);
        const secret = body.secret ?? generateSecret();
        const created = await store.subscriptions.create({
          url: body.url,
          eventTypes: body.eventTypes,
          accountId,
          active: body.active,
          paused: body.paused,
          throttleRate: body.throttleRate,
          description: body.description,
          headers: body.headers,
          secret,
          retryPolicy: resolveRetryPolicy(body.retryPolicy),
        });
        return { ...presentSubscription(created), secret };
      },
    }),
    route({
      method: 'get',
      operationId: 'listSubscriptions',
      path: '/v1/subscriptions',
      tag: 'Subscriptions',
      summary: 'List subscriptions (filter by eventType, accountId, active)',
      query: listQuery,
      status: 200,
      response: listOf(subscriptionView),
      handler: async ({ query, req }) => {
        const own = accountOf(principalOf(req));
        if (own !== undefined && query.accountId !== undefined && query.accountId !== own)
          return { data: [], nextCursor: null };
        const page = await store.subscriptions.list({ ...query, visibleTo: own });
        return { data: page.items.map(presentSubscription), nextCursor: apiCursor(page.nextCursor) };
      },
    }),
    route({
      method: 'get',
      operationId: 'getSubscription',
      path: '/v1/subscriptions/:id',
      tag: 'Subscriptions',
      summary: 'Get a subscription',
      status: 200,
      response: subscriptionView,
      errors: [404],
      handler: async ({ params, req }) => presentSubscription(await find(params.id as string, principalOf(req))),
    }),
    route({
      method: 'get',
      operationId: 'getSubscriptionSecret',
      path: '/v1/subscriptions/:id/secret',
      tag: 'Subscriptions',
      summary: "Get a subscription's signing secret",
      status: 200,
      response: z.object({ secret: z.string() }),
      errors: [404],
      handler: async ({ params, req }) => {
        const subscription = await find(params.id as string, principalOf(req));
        return { secret: (await store.subscriptions.getSecret(subscription.id)) as string };
      },
    }),
    route({
      method: 'post',
      operationId: 'rotateSubscriptionSecret',
      path: '/v1/subscriptions/:id/secret/rotate',
      tag: 'Subscriptions',
      summary:
        'Issue a new signing secret; the old one stays valid for the grace period (24 h by default) and deliveries carry both signatures',
      body: rotateSecret,
      status: 200,
      response: z.object({ secret: z.string(), previousSecretExpiresAt: z.iso.datetime().nullable() }),
      errors: [404],
      bodyRequired: false,
      handler: async ({ params, body, req }) => {
        const subscription = await find(params.id as string, principalOf(req));
        if (body.secret !== undefined && body.secret === (await store.subscriptions.getSecret(subscription.id))) {
          throw new ValidationError('invalid secret', [
            { path: 'secret', message: 'must differ from the current secret' },
          ]);
        }
        const secret = body.secret ?? generateSecret();
        const rotated = await store.subscriptions.rotateSecret(
          subscription.id,
          secret,
          body.gracePeriod ?? DEFAULT_GRACE_PERIOD_MS,
        );
        if (!rotated) throw new NotFoundError('subscription', subscription.id);
        return { secret, previousSecretExpiresAt: rotated.previousSecretExpiresAt?.toISOString() ?? null };
      },
    }),
    route({
      method: 'patch',
      operationId: 'updateSubscription',
      path: '/v1/subscriptions/:id',
      tag: 'Subscriptions',
      summary: 'Change a subscription; pending deliveries use the new URL and headers at their next attempt',
      body: updateSubscription,
      status: 200,
      response: subscriptionView,
      errors: [404],
      bodyRequired: false,
      handler: async ({ params, body, req }) => {
        const current = await find(params.id as string, principalOf(req));
        if (body.url !== undefined) await deps.validateTarget(body.url, 'url');
        if (body.eventTypes !== undefined) await checkEventTypes(store, body.eventTypes);
        const { retryPolicy, ...rest } = body;
        const updated = await store.subscriptions.update(current.id, {
          ...rest,
          ...(retryPolicy !== undefined ? { retryPolicy: resolveRetryPolicy(retryPolicy, current.retryPolicy) } : {}),
        });
        if (!updated) throw new NotFoundError('subscription', current.id);
        if (current.active && !updated.active) deps.cancelPendingDeliveries(updated.id);
        else if (current.paused && !updated.paused) deps.resumePendingDeliveries(updated.id);
        return presentSubscription(updated);
      },
    }),
    route({
      method: 'delete',
      operationId: 'deleteSubscription',
      path: '/v1/subscriptions/:id',
      tag: 'Subscriptions',
      summary: 'Delete a subscription; its pending deliveries end as cancelled',
      status: 204,
      errors: [404],
      handler: async ({ params, req }) => {
        const subscription = await find(params.id as string, principalOf(req));
        if (!(await store.subscriptions.delete(subscription.id)))
          throw new NotFoundError('subscription', subscription.id);
        deps.cancelPendingDeliveries(subscription.id);
      },
    }),
  ];
}
