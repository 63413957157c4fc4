import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { SubscriptionHealthGuard } from '../../activities/subscription-health';
import { deliveryWorkflowId } from '../../core/workflow-ids';
import { disableReason, type AutoDisableSettings } from '../../core/subscription-health';
import type { Store } from '../store';
import { cancelPendingDeliveries } from './pending-deliveries';

/**
 * Disables a subscription whose failures call for it (core/subscription-health.ts), told by the
 * attempts: `active` false, with when and why. Its other pending deliveries are cancelled in the
 * background (the failing attempt's own delivery ends as its workflow decides); any the
 * cancellation misses ends cancelled at its next attempt, which finds the subscription disabled.
 */
export class SubscriptionDisabler implements SubscriptionHealthGuard {
  private readonly background = new Set<Promise<void>>();

  constructor(
    private readonly options: {
      readonly store: Pick<Store, 'subscriptions' | 'deliveries'>;
      readonly client: Client;
      readonly logger: Logger;
      readonly settings: AutoDisableSettings;
    },
  ) {}

  async afterFailedAttempt(input: Parameters<SubscriptionHealthGuard['afterFailedAttempt']>[0]): Promise<void> {
    const { health } = input;
    const reason = disableReason(health, input.statusCode, Date.now(), this.options.settings);
    if (reason === undefined) return;
    const disabled = await this.options.store.subscriptions.disable(health.subscriptionId, reason);
    if (disabled === undefined) return;
    this.options.logger.warn({ subscriptionId: disabled.id, reason }, 'subscription disabled');
    const delivery = await this.options.store.deliveries.get(input.deliveryId);
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
  }

  /** Waits for the cancellations in progress. */
  async stop(): Promise<void> {
    await Promise.all(this.background);
  }
}
