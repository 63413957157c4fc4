import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { FailedAttempt, SubscriptionHealthGuard } from '../../activities/subscription-health';
import { deliveryWorkflowId } from '../../core/workflow-ids';
import { FAILING_THRESHOLD, isReservedEventType } from '../../core/operational-events';
import { disableReason, type AutoDisableSettings } from '../../core/subscription-health';
import type { Store } from '../store';
import type { OperationalEventPublisher } from './operational-events';
import { cancelPendingDeliveries } from './pending-deliveries';

/**
 * Disables a subscription whose failures call for it (core/subscription-health.ts), told by the
 * attempts: `active` false, with when and why. Its other pending deliveries are cancelled in the
 * background (the failing attempt's own delivery ends as its workflow decides); any the
 * cancellation misses ends cancelled at its next attempt, which finds the subscription disabled.
 * Operators hear of it, and of a subscription first reaching FAILING_THRESHOLD failures in a row,
 * through operational events, unless the failing delivery was itself one (no loop).
 */
export class SubscriptionDisabler implements SubscriptionHealthGuard {
  private readonly background = new Set<Promise<void>>();

  constructor(
    private readonly options: {
      readonly store: Pick<Store, 'subscriptions' | 'deliveries'>;
      readonly client: Client;
      readonly logger: Logger;
      readonly settings: AutoDisableSettings;
      /** Where operational events go. @default none published */
      readonly events?: OperationalEventPublisher;
    },
  ) {}

  async afterFailedAttempt(attempt: FailedAttempt): Promise<void> {
    const { health } = attempt;
    const events = isReservedEventType(attempt.eventType) ? undefined : this.options.events;
    // Exactly one attempt's write brings the count to the threshold: reported once per run of failures.
    if (events && health.consecutiveFailures === FAILING_THRESHOLD) {
      const subscription = await this.options.store.subscriptions.get(health.subscriptionId);
      if (subscription) {
        await events.subscriptionFailing({
          subscription,
          reason: attempt.reason,
          consecutiveFailures: health.consecutiveFailures,
        });
      }
    }
    const reason = disableReason(health, attempt.statusCode, Date.now(), this.options.settings);
    if (reason === undefined) return;
    const disabled = await this.options.store.subscriptions.disable(health.subscriptionId, reason);
    if (disabled === undefined) return;
    this.options.logger.warn({ subscriptionId: disabled.id, reason }, 'subscription disabled');
    const delivery = await this.options.store.deliveries.get(attempt.deliveryId);
    const work = cancelPendingDeliveries({
      client: this.options.client,
      deliveries: this.options.store.deliveries,
      subscriptionId: disabled.id,
      ...(delivery ? { except: deliveryWorkflowId(delivery.eventId, disabled.id) } : {}),
    })
      .catch((error: unknown) =>
        this.options.logger.warn({ subscriptionId: disabled.id, err: error }, 'cancelling pending deliveries failed'),
      )
      .finally(() => this.background.delete(work));
    this.background.add(work);
    await events?.subscriptionDisabled({ subscription: disabled, reason });
  }

  /** Waits for the cancellations in progress. */
  async stop(): Promise<void> {
    await Promise.all(this.background);
  }
}
