import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { DeliveryMode, DeliveryPlan } from '../../core/model';
import type { EventStore } from '../store/events';
import { Batcher } from '../util/batcher';
import { forEachLimited } from '../util/concurrency';
import { runPeriodically, type Periodic } from '../util/periodic';
import { deliveryWorkflow } from '../../workflows';
import { deliveryStartOptions, type DeliveryStartSettings } from './delivery-start';
import { StartGate, type StartGateOptions } from './start-gate';
import { SubscriberBusyError, SubscriberEnqueuer } from './subscriber-enqueuer';
import { FirstAttemptWindow, type FirstAttemptWindowOptions } from './first-attempt-window';
import { SUBSCRIBER_LIMITS } from '../../workflows/subscriber-messages';

export interface DispatcherOptions extends DeliveryStartSettings {
  readonly client: Client;
  readonly events: EventStore;
  readonly logger: Logger;
  /** Workflow starts in flight at once for one event. @default 32 */
  readonly startConcurrency?: number;
  /**
   * Ask Temporal to hand each new workflow's first task straight back to a worker in this
   * process (eager workflow start), saving a round trip through the task queue. Needs a client
   * built on the worker's NativeConnection. @default false
   */
  readonly eagerStart?: boolean;
  /** How long a dispatch is claimed before the relay may take it over, ms. @default 30000 */
  readonly claimMs?: number;
  /** How often the relay looks for events left undispatched, ms. @default 2000 */
  readonly relayIntervalMs?: number;
  /**
   * Events one relay pass claims (their plans are read in one statement) and dispatches at once:
   * the gate and the windows bound the work in Temporal, so the whole pass waits on them
   * together, not in turns. A claimed event waits in this process until it is dispatched; no
   * other process's relay takes it meanwhile. @default 100
   */
  readonly relayBatch?: number;
  /** Wait before the relay retries a dispatch that failed, ms. @default 2000 */
  readonly retryDelayMs?: number;
  /** The adaptive bound on workflow starts in flight (see StartGate). @default its defaults */
  readonly startGate?: StartGateOptions;
  /** See DeliveryMode. @default 'per-delivery' */
  readonly mode?: DeliveryMode;
  /**
   * Which of these deliveries have had their first attempt recorded: turns on the bound on
   * deliveries handed to Temporal and not yet attempted (see FirstAttemptWindow). @default none: no bound
   */
  readonly attempted?: FirstAttemptWindowOptions['attempted'];
  /** The window's settings for delivery workflows (see FirstAttemptWindowOptions). @default its defaults */
  readonly firstAttemptWindow?: Omit<FirstAttemptWindowOptions, 'attempted' | 'onError'>;
  /**
   * The window's settings for deliveries handed to subscriber workflows (throughput mode). Each
   * subscriber workflow holds SUBSCRIBER_LIMITS.outstanding deliveries and attempts them as they
   * come, so a target may hold that many places; the delivery workflows' window (a quarter of 128
   * per target) would cap one subscription at 32 in flight.
   * @default SUBSCRIBER_WINDOW
   */
  readonly subscriberWindow?: Omit<FirstAttemptWindowOptions, 'attempted' | 'onError'>;
}

/**
 * Starts that may wait at the gate, per start it lets through, before new events are left in the
 * outbox for the relay instead of queueing in memory.
 */
const WAITING_PER_PLACE = 4;
/**
 * Deliveries that may wait in this process for room in their subscriber workflows (throughput
 * mode) before new events are left in the outbox.
 */
const ENQUEUE_WAITING_LIMIT = 400;
/** The window for deliveries handed to subscriber workflows: four subscriptions' worth, each as much as its workflow holds. */
const SUBSCRIBER_WINDOW = Object.freeze({
  limit: 4 * SUBSCRIBER_LIMITS.outstanding,
  perTargetLimit: SUBSCRIBER_LIMITS.outstanding,
});
/** After the attempt timeout, how long a first attempt may take to be recorded, ms. */
const FIRST_ATTEMPT_MARGIN_MS = 5_000;

/**
 * Starts delivery workflows for ingested events. The event row is the outbox: it stays
 * undispatched until every workflow has started, and the relay retries any event whose claim
 * lapsed (the process died, or Temporal was unreachable). Starting twice is harmless: the
 * workflow id is deterministic and a duplicate start is rejected.
 *
 * Backpressure: every start passes the StartGate, which lets through as many as Temporal answers
 * promptly. When more wait than it lets through, new events stay in the outbox (backlogged) and
 * the relay dispatches the backlog oldest first, across API processes, until it is empty; the
 * 202 is as fast as ever, and memory holds no queue.
 */
export class DeliveryDispatcher {
  readonly claimMs: number;
  private readonly startConcurrency: number;
  private readonly relayIntervalMs: number;
  private readonly relayBatch: number;
  private readonly retryDelayMs: number;
  private relay: Periodic | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly gate: StartGate;
  private readonly enqueuer: SubscriberEnqueuer | undefined;
  /** Bounds the deliveries handed to delivery workflows and not yet attempted; and those handed to subscriber workflows. */
  private readonly window: FirstAttemptWindow | undefined;
  private readonly subscriberWindow: FirstAttemptWindow | undefined;
  /** Marks events dispatched, those that finish together in one statement. */
  private readonly dispatched: Batcher<string>;
  /** True while events wait in the outbox: new ones join that queue instead of overtaking it. */
  private backlogged = false;
  /** Events this process has left in the outbox while backlogged, ever: a relay pass that claimed them all saw none of these arrive. */
  private deferred = 0;

  constructor(private readonly options: DispatcherOptions) {
    this.startConcurrency = options.startConcurrency ?? 32;
    this.claimMs = options.claimMs ?? 30_000;
    this.relayIntervalMs = options.relayIntervalMs ?? 2_000;
    this.relayBatch = options.relayBatch ?? 100;
    this.retryDelayMs = options.retryDelayMs ?? 2_000;
    this.gate = new StartGate(options.startGate);
    this.dispatched = new Batcher((eventIds) => options.events.markDispatched(eventIds));
    this.enqueuer =
      options.mode === 'per-subscriber'
        ? new SubscriberEnqueuer({
            client: options.client,
            taskQueue: options.taskQueue,
            attemptTimeoutMs: options.attemptTimeoutMs,
            gate: this.gate,
            ...(options.fairness !== undefined ? { fairness: options.fairness } : {}),
          })
        : undefined;
    const window = (settings: DispatcherOptions['firstAttemptWindow']): FirstAttemptWindow | undefined =>
      options.attempted === undefined
        ? undefined
        : new FirstAttemptWindow({
            // An attempt is recorded by its deadline, or the worker running it is gone.
            maxWaitMs: options.attemptTimeoutMs + FIRST_ATTEMPT_MARGIN_MS,
            ...settings,
            attempted: options.attempted,
            onError: (error) => options.logger.warn({ err: error }, 'first-attempt window look-up failed'),
          });
    this.window = window(options.firstAttemptWindow);
    this.subscriberWindow =
      this.enqueuer === undefined ? undefined : window(options.subscriberWindow ?? SUBSCRIBER_WINDOW);
  }

  /**
   * How long the process that ingests a new event claims its dispatch, ms: 0 while backlogged,
   * so the relay takes it in its turn.
   */
  get claimForNewEvent(): number {
    return this.backlogged ? 0 : this.claimMs;
  }

  /**
   * Starts one delivery workflow, or in throughput mode hands the delivery to its subscriber
   * workflow; resolves when Temporal has it (or already had it). `ofLargeFanOut`: one of the
   * deliveries a large fan-out writes in chunks, which start workflows of their own in both
   * modes, as do a throttled subscription's: a subscriber workflow pays for itself over many
   * deliveries to one subscription made as they come, and a fan-out gives each subscription one
   * (docs/benchmarks.md, "Throughput mode"), a throttle makes each wait for its slot.
   */
  async startDelivery(plan: DeliveryPlan, ofLargeFanOut = false): Promise<void> {
    const { subscriptionId } = plan;
    // A throttled subscription's first attempts wait for their slots: they gain nothing from a subscriber workflow.
    if (this.enqueuer !== undefined && subscriptionId !== null && !ofLargeFanOut && plan.throttled !== true) {
      const { enqueuer } = this;
      const enqueue = (): Promise<void> => enqueuer.enqueue({ ...plan, subscriptionId });
      return this.subscriberWindow === undefined
        ? enqueue()
        : this.subscriberWindow.run(plan.deliveryId, subscriptionId, enqueue);
    }
    const start = (): Promise<void> => this.startWorkflow(plan);
    if (this.window === undefined) return start();
    return this.window.run(plan.deliveryId, subscriptionId ?? 'callback', start);
  }

  private async startWorkflow(plan: DeliveryPlan): Promise<void> {
    const options = deliveryStartOptions(plan, this.options, WorkflowIdReusePolicy.REJECT_DUPLICATE);
    try {
      await this.gate.run(() =>
        this.options.client.workflow.start(
          deliveryWorkflow,
          this.options.eagerStart ? { ...options, requestEagerStart: true } : options,
        ),
      );
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
  }

  /**
   * Starts every delivery of an event and marks it dispatched; on failure leaves it to the relay.
   * `expanding`: the event is a large fan-out whose delivery rows are still to be written; they
   * are written and started chunk by chunk, the next chunk written while the last one starts.
   */
  async dispatch(eventId: string, plans: readonly DeliveryPlan[], expanding = false): Promise<void> {
    try {
      await forEachLimited(plans, this.startConcurrency, (plan) => this.startDelivery(plan));
      if (expanding) {
        const { events } = this.options;
        let next = events.expandNext(eventId, this.claimMs);
        for (let chunk = await next; chunk !== null; chunk = await next) {
          next = events.expandNext(eventId, this.claimMs);
          // Handled when awaited; marked here so a failure meanwhile is not reported as unhandled.
          next.catch(() => undefined);
          await forEachLimited(chunk, this.startConcurrency, (plan) => this.startDelivery(plan, true));
        }
      }
      await this.dispatched.add(eventId);
    } catch (error) {
      // A subscriber workflow that stayed full is backpressure, not a fault.
      const level = error instanceof SubscriberBusyError ? 'debug' : 'warn';
      this.options.logger[level]({ eventId, err: error }, 'dispatch failed; the relay will retry');
      await this.options.events.releaseClaim(eventId, this.retryDelayMs).catch(() => undefined);
    }
  }

  /**
   * Dispatches in the background; the caller has already answered its client. While backlogged
   * the event stays in the outbox (its claim given back, if it was `claimed` at ingest) and the
   * relay dispatches it in its turn.
   */
  dispatchSoon(eventId: string, plans: readonly DeliveryPlan[], expanding = false, claimed = true): void {
    const saturated =
      this.gate.waiting > this.gate.bound * WAITING_PER_PLACE ||
      (this.enqueuer?.waiting ?? 0) > ENQUEUE_WAITING_LIMIT ||
      [this.window, this.subscriberWindow].some((window) => window !== undefined && window.waiting > window.size);
    if (!this.backlogged && saturated) {
      this.backlogged = true;
      this.options.logger.info(
        {
          startsInFlight: this.gate.bound,
          awaitingFirstAttempt: (this.window?.waiting ?? 0) + (this.subscriberWindow?.waiting ?? 0),
        },
        'workflow starts saturated: new events wait in the outbox',
      );
    }
    if (this.backlogged) {
      this.deferred += 1;
      if (claimed) this.track(this.options.events.releaseClaim(eventId, 0));
      this.relay?.wake();
      return;
    }
    this.track(this.dispatch(eventId, plans, expanding));
  }

  /** Keeps background work in sight of stop(). */
  private track(work: Promise<void>): void {
    const run = work.finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  /**
   * Runs one pass of the relay: claims lapsed events and dispatches them all at once (while
   * Temporal is unreachable each one takes seconds to fail, and a backlog must drain quickly once
   * it is back).
   */
  async relayOnce(limit = this.relayBatch): Promise<number> {
    const deferredBefore = this.deferred;
    const claimed = await this.options.events.claimUndispatched(limit, this.claimMs);
    if (claimed.length > 0) {
      const plans = await this.options.events.pendingPlans(claimed.map((event) => event.id));
      // `expanding`: finish writing a large fan-out's deliveries if its dispatcher died half-way.
      await Promise.all(claimed.map(({ id, expanding }) => this.dispatch(id, plans.get(id) ?? [], expanding)));
    }
    // A pass that found less than it could take, with no event left in the outbox while it ran
    // (a pass may take seconds when Temporal is behind), has emptied it: new events go straight out again.
    if (claimed.length < limit && this.deferred === deferredBefore && this.backlogged) {
      this.backlogged = false;
      this.options.logger.info('outbox drained: new events are dispatched at once again');
    }
    return claimed.length;
  }

  startRelay(): void {
    this.relay = runPeriodically(
      // A full pass, or events left in the outbox meanwhile, means more are waiting: go on at once.
      async () => {
        const claimed = await this.relayOnce();
        return claimed >= this.relayBatch || (claimed > 0 && this.backlogged);
      },
      this.relayIntervalMs,
      (error) => this.options.logger.warn({ err: error }, 'outbox relay pass failed'),
    );
  }

  /** Stops the relay and waits for dispatches in progress. */
  async stop(): Promise<void> {
    await this.relay?.stop();
    await this.window?.stop();
    await this.subscriberWindow?.stop();
    await Promise.all(this.inFlight);
  }
}
