import type { Logger } from 'pino';
import type { OperationalEvents } from '../../activities/operational-events';
import type { Subscription } from '../../core/model';
import { eventFingerprint } from '../../core/event-fingerprint';
import {
  isReservedEventType,
  OPERATIONAL_EVENT_DESCRIPTIONS,
  OPERATIONAL_EVENT_TYPES,
} from '../../core/operational-events';
import type { Store } from '../store';

/** What an operational event about a subscription says of it. */
export interface SubscriptionNotice {
  readonly subscription: Pick<Subscription, 'id' | 'url' | 'accountId' | 'health'>;
  readonly reason: string;
}

/**
 * Publishes the service's operational events (core/operational-events.ts) as events of its own:
 * written to the outbox like a client's, so the API processes' relay delivers them to every
 * matching subscription, signed and retried as any other. Each has an id derived from what it
 * reports, so telling it twice publishes it once. Their accountId is the affected subscription's:
 * an account's subscription hears of its own endpoints, a vendor-level one of all.
 */
export class OperationalEventPublisher implements OperationalEvents {
  constructor(
    private readonly options: {
      readonly store: Pick<Store, 'events' | 'deliveries' | 'subscriptions'>;
      readonly logger: Logger;
    },
  ) {}

  async deliveryFailed(input: { deliveryId: string; reason: string | null }): Promise<void> {
    const delivery = await this.options.store.deliveries.get(input.deliveryId);
    // Never an operational event about one: an operator's failing endpoint makes no loop.
    if (delivery === undefined || isReservedEventType(delivery.eventType)) return;
    const subscription =
      delivery.subscriptionId === null
        ? undefined
        : await this.options.store.subscriptions.get(delivery.subscriptionId);
    await this.publish({
      id: `op_delivery_failed_${delivery.id}_${delivery.attemptCount}`,
      type: OPERATIONAL_EVENT_TYPES.deliveryFailed,
      accountId: subscription?.accountId ?? delivery.accountId,
      data: {
        deliveryId: delivery.id,
        eventId: delivery.eventId,
        eventType: delivery.eventType,
        subscriptionId: delivery.subscriptionId,
        reason: input.reason,
      },
    });
  }

  /**
   * The subscription reached FAILING_THRESHOLD failed attempts in a row. `consecutiveFailures`:
   * the count the attempt's own write reached (the subscription, read after it, may count more).
   */
  async subscriptionFailing({
    subscription,
    reason,
    consecutiveFailures,
  }: SubscriptionNotice & { readonly consecutiveFailures: number }): Promise<void> {
    const { failingSince } = subscription.health;
    await this.publish({
      id: `op_subscription_failing_${subscription.id}_${failingSince?.getTime() ?? 0}`,
      type: OPERATIONAL_EVENT_TYPES.subscriptionFailing,
      accountId: subscription.accountId,
      data: { ...this.subscriptionData({ subscription, reason }), consecutiveFailures },
    });
  }

  /** The subscription was disabled for its failures. */
  async subscriptionDisabled(notice: SubscriptionNotice): Promise<void> {
    const { subscription } = notice;
    await this.publish({
      id: `op_subscription_disabled_${subscription.id}_${subscription.health.disabledAt?.getTime() ?? 0}`,
      type: OPERATIONAL_EVENT_TYPES.subscriptionDisabled,
      accountId: subscription.accountId,
      data: this.subscriptionData(notice),
    });
  }

  private subscriptionData({ subscription, reason }: SubscriptionNotice) {
    return {
      subscriptionId: subscription.id,
      url: subscription.url,
      reason,
      failingSince: subscription.health.failingSince?.toISOString() ?? null,
    };
  }

  private async publish(event: { id: string; type: string; accountId: string | null; data: object }): Promise<void> {
    const dataJson = JSON.stringify(event.data);
    // Claimed for no time: the relay dispatches it, from whichever API process looks first.
    await this.options.store.events.ingest(
      {
        ...event,
        dataJson,
        callbackUrl: null,
        callbackSecret: null,
        fingerprint: eventFingerprint({ ...event, callbackUrl: null }, dataJson),
      },
      0,
    );
    this.options.logger.info({ eventId: event.id, type: event.type }, 'operational event published');
  }
}

/** Registers the operational event types in the catalog (idempotent: every process does it at start). */
export async function registerOperationalEventTypes(store: Pick<Store, 'eventTypes'>): Promise<void> {
  for (const [id, description] of Object.entries(OPERATIONAL_EVENT_DESCRIPTIONS)) {
    await store.eventTypes.create({ id, description });
  }
}
