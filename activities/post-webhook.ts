import { context as otelContext, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { AttemptContext, Delivery } from '../core/model';
import type { DeliveryRecords } from './delivery-records';
import type { FailedAttempt, SubscriptionHealthGuard } from './subscription-health';
import { NO_DELIVERY_METRICS, type AttemptClass, type DeliveryMetrics } from './metrics';
import {
  FINAL_FAILURE_TYPES,
  nextAttemptAt,
  SUBSCRIPTION_PAUSED,
  SUBSCRIPTION_THROTTLED,
  type DeliveryRetryPolicy,
} from '../core/retry-policy';
import { attemptClassOf, classifyError, classifyResponse, describeError, type Outcome } from './classify';
import { keepHeartbeating } from './heartbeat';
import { postWebhookRequest, type PostResponse } from './http';
import { signatureHeaders } from '../core/signing';
import {
  MAX_SHORT_WAITS,
  MAX_TURN_RETAKES,
  SLOT_LEAD_MS,
  staleTurnMs,
  type SendTurn,
  type SendTurnRequest,
} from '../core/throttle';
import { assertUrlAllowed, TargetRefusedError, type TargetPolicy } from '../core/targets';
import { SUBSCRIBER_WORKFLOW_TYPE } from '../core/workflow-ids';

export const USER_AGENT = 'webhook-delivery/0.1 (+https://www.standardwebhooks.com)';

/** The instrumentation scope of the attempts' spans. */
const TRACER_NAME = 'webhook-delivery';

/** While a request is in flight, heartbeat this often so a cancel reaches it quickly. */
const HEARTBEAT_INTERVAL_MS = 500;

export interface PostWebhookInput {
  readonly deliveryId: string;
  readonly retryPolicy: DeliveryRetryPolicy;
  /** Deadline of this one attempt, ms. */
  readonly attemptTimeoutMs: number;
  /**
   * Attempts this run made before this activity's first (the local first attempt), so that the
   * backoff and maximum attempts count them. Absent in activities scheduled before it existed.
   * @default 0
   */
  readonly attemptsBefore?: number;
  /**
   * The throttle slot (ms since the epoch) this delivery reserved and waited for: its first try
   * posts without reserving another. @default none: a throttled subscription's attempt reserves one
   */
  readonly reservedSlotAt?: number;
}

/**
 * What an attempt that posted nothing (its subscription paused, or throttled with its turn to
 * come) carries: the attempts made before it, which it did not add to, and for a throttled one
 * when its reserved slot begins (ms since the epoch).
 */
export interface NotSentDetails {
  readonly attemptsMade: number;
  readonly sendAt?: number;
}

/** What a retryable failure carries to the workflow: when the next attempt is due (ms since the epoch), or null when none will be made. */
export interface RetryDetails {
  readonly nextAttemptAt: number | null;
}

export interface PostWebhookResult {
  readonly statusCode: number;
  readonly durationMs: number;
  readonly attempt: number;
}

export interface PostWebhookDeps {
  readonly deliveries: DeliveryRecords;
  readonly http: Dispatcher;
  readonly logger: Logger;
  /** The target rules, checked at every attempt (the URL here, each address as it is connected to). */
  readonly targets: TargetPolicy;
  /** Where attempts and their outcomes are counted. @default none */
  readonly metrics?: DeliveryMetrics;
  /** Told of failed attempts, to disable a subscription whose failures call for it. @default none */
  readonly health?: SubscriptionHealthGuard;
}

/**
 * The envelope every receiver gets: `{"id","type","timestamp","accountId","data"}`, with `data`
 * the JSON text the producer sent, byte for byte (every key, numbers as written, its Unicode and
 * escapes), so what is signed and delivered is what was published. An event stored before its
 * text was kept (no `dataJson`) has its `data` serialised, as it always had.
 */
export function webhookBody(event: {
  id: string;
  type: string;
  createdAt: Date;
  accountId: string | null;
  data: unknown;
  dataJson?: string;
}): string {
  const data = event.dataJson ?? JSON.stringify(event.data ?? null);
  return `{"id":${JSON.stringify(event.id)},"type":${JSON.stringify(event.type)},"timestamp":${JSON.stringify(event.createdAt.toISOString())},"accountId":${JSON.stringify(event.accountId)},"data":${data}}`;
}

/**
 * An attempt that finds its delivery succeeded already is the same attempt run again: its 2xx was
 * recorded, but its result never reached the workflow (a local attempt whose workflow task timed
 * out under load, an activity whose completion was lost). It answers with the recorded success
 * instead of posting twice. A resend marks a delivery pending before its new run starts, so a
 * resend still posts.
 */
async function recordedSuccess(deliveries: DeliveryRecords, delivery: Delivery): Promise<PostWebhookResult> {
  const attempts = (await deliveries.attemptsOf([delivery.id])).get(delivery.id) ?? [];
  // A delivered attempt is recorded without an error.
  const delivered = attempts.findLast((attempt) => attempt.error === null);
  return {
    statusCode: delivered?.statusCode ?? 0,
    durationMs: delivered?.durationMs ?? 0,
    attempt: delivered?.attempt ?? delivery.attemptCount,
  };
}

/**
 * A first attempt of a subscriber workflow (throughput mode) that finds its delivery attempted or
 * ended already: the same attempt run again after its workflow task was lost, or a delivery
 * cancelled while it waited. It answers with what the recorded attempt decided instead of posting
 * twice (the workflow then hands it on, and a delivery workflow that exists already keeps it);
 * an ended delivery has nothing left to do.
 */
async function recordedFirstOutcome(deps: PostWebhookDeps, delivery: Delivery): Promise<PostWebhookResult> {
  const nothingToDo = { statusCode: 0, durationMs: 0, attempt: delivery.attemptCount };
  if (delivery.status !== 'pending') return nothingToDo;
  const attempts = (await deps.deliveries.attemptsOf([delivery.id])).get(delivery.id) ?? [];
  const first = attempts[0];
  if (first === undefined || first.error === null) return nothingToDo;
  const message = `${first.error} (attempt ${first.attempt}, as recorded)`;
  const refused =
    first.statusCode !== null && classifyResponse(first.statusCode, undefined, Date.now()).kind === 'reject';
  if (refused) throw finalFailure(message, FINAL_FAILURE_TYPES.receiverRejected);
  throw retryableFailure(message, delivery.nextAttemptAt?.getTime() ?? null);
}

/** An attempt that posted nothing and used no attempt: the workflow decides when to try again. */
function notSent(message: string, type: string, details: NotSentDetails): ApplicationFailure {
  return ApplicationFailure.create({
    message,
    type,
    nonRetryable: true,
    details: [details],
    category: ApplicationFailureCategory.BENIGN,
  });
}

/** An attempt's final failure (the receiver's doing or the target rules': benign, no stack trace logged). */
function finalFailure(message: string, type: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type, nonRetryable: true, category: ApplicationFailureCategory.BENIGN });
}

/**
 * An attempt's retryable failure, with when the next attempt is due for the workflow, and
 * Retry-After (when the receiver sent one) as Temporal's next retry delay.
 */
function retryableFailure(message: string, nextAttemptAt: number | null, retryAfterMs?: number): ApplicationFailure {
  const details: RetryDetails = { nextAttemptAt };
  return ApplicationFailure.create({
    message,
    type: 'AttemptFailed',
    nextRetryDelay: retryAfterMs,
    details: [details],
    category: ApplicationFailureCategory.BENIGN,
  });
}

/**
 * Whether this delivered attempt is its delivery's first 2xx: true unless an earlier attempt was
 * delivered too (a resend of a delivery that had succeeded). Reads the attempts only when there
 * were earlier ones.
 */
async function isFirstSuccess(deliveries: DeliveryRecords, delivery: Delivery, attempt: number): Promise<boolean> {
  if (delivery.attemptCount === 0) return true;
  const attempts = (await deliveries.attemptsOf([delivery.id])).get(delivery.id) ?? [];
  return !attempts.some((earlier) => earlier.attempt < attempt && earlier.error === null);
}

/**
 * Counts an attempt and, for a delivered one, the end of a pending delivery and its latency from
 * the event's acceptance. Metrics never fail an attempt.
 */
async function reportAttempt(
  deps: PostWebhookDeps,
  target: AttemptContext,
  attempt: { number: number; class: AttemptClass; durationMs: number; delivered: boolean; endedAt: number },
): Promise<void> {
  const metrics = deps.metrics ?? NO_DELIVERY_METRICS;
  const eventType = target.event.type;
  try {
    metrics.attemptMade({ eventType, class: attempt.class, durationMs: attempt.durationMs });
    if (!attempt.delivered) return;
    if (target.delivery.status === 'pending') metrics.deliveryEnded({ eventType, outcome: 'succeeded' });
    if (await isFirstSuccess(deps.deliveries, target.delivery, attempt.number)) {
      metrics.firstSuccess({ eventType, sinceAcceptedMs: attempt.endedAt - target.event.createdAt.getTime() });
    }
  } catch (error) {
    deps.logger.warn({ err: error, deliveryId: target.delivery.id }, 'attempt metrics not reported');
  }
}

/** Disables the subscription when the failure calls for it; that never fails the attempt. */
async function guardHealth(deps: PostWebhookDeps, input: FailedAttempt) {
  try {
    await deps.health?.afterFailedAttempt(input);
  } catch (error) {
    deps.logger.warn({ err: error, deliveryId: input.deliveryId }, 'subscription health not checked');
  }
}

/** The span of one POST to a receiver (a no-op span when tracing is off). */
function startAttemptSpan(target: AttemptContext, attempt: number): Span {
  let host: { address: string; port: number } | undefined;
  try {
    const url = new URL(target.url);
    host = { address: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
  } catch {
    host = undefined;
  }
  // Never the URL's path or query: they may carry the receiver's token.
  // The process's tracer provider when tracing is on (src/tracing.ts), else a no-op.
  return trace.getTracer(TRACER_NAME).startSpan('POST webhook', {
    kind: SpanKind.CLIENT,
    attributes: {
      'http.request.method': 'POST',
      ...(host ? { 'server.address': host.address, 'server.port': host.port } : {}),
      'webhook.delivery_id': target.delivery.id,
      'webhook.event_id': target.event.id,
      'webhook.event_type': target.event.type,
      'webhook.attempt': attempt,
    },
  });
}

/** `traceparent` (and `tracestate`) of the span, for the request; empty when tracing is off. */
function traceHeaders(span: Span): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(otelContext.active(), span), carrier);
  return carrier;
}

function endAttemptSpan(span: Span, statusCode: number | undefined, failure: unknown, refused: boolean): void {
  const attemptClass = attemptClassOf({ statusCode, error: failure, refused });
  span.setAttribute('webhook.attempt_class', attemptClass);
  if (statusCode !== undefined) span.setAttribute('http.response.status_code', statusCode);
  if (attemptClass !== '2xx') {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: failure === undefined ? `HTTP ${statusCode}` : describeError(failure),
    });
  }
  span.end();
}

/**
 * One JSON line per attempt: info when delivered, warn when the receiver failed it (its doing,
 * not ours: no stack trace). Faults of our own throw and are logged by the worker.
 */
function logAttempt(
  logger: Logger,
  line: {
    deliveryId: string;
    eventType: string;
    attempt: number;
    outcome: Outcome;
    statusCode: number | undefined;
    durationMs: number;
    nextAttemptAt: number | null;
  },
): void {
  const { outcome, nextAttemptAt: next, ...fields } = line;
  if (outcome.kind === 'delivered') {
    logger.info({ ...fields, outcome: outcome.kind }, 'webhook delivered');
    return;
  }
  const nextAttemptAt = next === null ? null : new Date(next).toISOString();
  logger.warn(
    { ...fields, outcome: outcome.kind, reason: outcome.reason, nextAttemptAt },
    outcome.kind === 'retry' ? 'webhook attempt failed' : 'webhook refused',
  );
}

/**
 * The attempt's turn under its subscription's throttle. A turn that begins within SLOT_LEAD_MS is
 * waited for here (by a regular activity) and asked for again, holding its slot (at most
 * MAX_SHORT_WAITS times): the workflow wakes that early for its slot, as Temporal's timers fire
 * up to a second late. A turn to send is used only if it reaches the attempt in time
 * (staleTurnMs): one that came late is given back and asked for again, holding the attempt's
 * place, at most MAX_TURN_RETAKES times. What follows it up to the POST is synchronous, so a turn
 * in time is a request in time.
 */
async function takeTimelyTurn(
  deliveries: DeliveryRecords,
  request: SendTurnRequest,
  rate: number,
  context: Context,
): Promise<SendTurn> {
  let ask = request;
  let retakes = 0;
  let shortWaits = 0;
  const stopHeartbeats = keepHeartbeating(context, HEARTBEAT_INTERVAL_MS);
  try {
    for (;;) {
      const askedAt = Date.now();
      const turn = await deliveries.takeSendTurn(ask);
      if (turn.kind === 'wait') {
        const waitMs = turn.slotAt - Date.now();
        // A local activity does not wait: its workflow's eviction from the cache would cancel it.
        if (context.info.isLocal || waitMs > SLOT_LEAD_MS || shortWaits === MAX_SHORT_WAITS) return turn;
        shortWaits += 1;
        if (waitMs > 0) await context.sleep(waitMs);
        ask = { ...request, heldSlotAt: turn.slotAt };
      } else if (turn.decision === null || Date.now() - askedAt <= staleTurnMs(rate) || retakes === MAX_TURN_RETAKES) {
        return turn;
      } else {
        retakes += 1;
        ask = { ...request, heldSlotAt: askedAt, withdrawn: turn.decision };
      }
    }
  } finally {
    stopHeartbeats();
  }
}

/**
 * One delivery attempt: read the delivery's current target and secret, sign, POST, record the
 * attempt (on 2xx, with the delivery's status), and tell Temporal what comes next. Returns on
 * 2xx; throws a non-retryable failure when the receiver refuses for good; throws a retryable one
 * otherwise (with Retry-After as the delay).
 */
export function createPostWebhook(deps: PostWebhookDeps) {
  return async function postWebhook(input: PostWebhookInput): Promise<PostWebhookResult> {
    const context = Context.current();
    const target = await deps.deliveries.attemptContext(input.deliveryId);
    if (!target) throw new Error(`delivery ${input.deliveryId} is not in the store`);
    if (target.delivery.status === 'succeeded') return recordedSuccess(deps.deliveries, target.delivery);
    const fastPathRun =
      context.info.workflowType === SUBSCRIBER_WORKFLOW_TYPE ? context.info.workflowExecution : undefined;
    if (fastPathRun && (target.delivery.status !== 'pending' || target.delivery.attemptCount > 0)) {
      return recordedFirstOutcome(deps, target.delivery);
    }
    if (!target.subscriptionActive) {
      throw ApplicationFailure.create({
        message:
          target.subscriptionDisabledReason === null
            ? 'the subscription was deleted or deactivated'
            : `the subscription was disabled: ${target.subscriptionDisabledReason}`,
        type: FINAL_FAILURE_TYPES.subscriptionGone,
        nonRetryable: true,
        category: ApplicationFailureCategory.BENIGN,
      });
    }

    const attemptsMade = (input.attemptsBefore ?? 0) + context.info.attempt - 1;
    if (target.subscriptionPaused) {
      throw notSent('the subscription is paused: nothing was posted', SUBSCRIPTION_PAUSED, { attemptsMade });
    }
    if (target.subscriptionThrottleRate !== null && target.delivery.subscriptionId !== null) {
      // A slot waited for is held by this activity's first try only: Temporal's retries take turns anew.
      const heldSlotAt = context.info.attempt === 1 ? input.reservedSlotAt : undefined;
      const turn = await takeTimelyTurn(
        deps.deliveries,
        { deliveryId: input.deliveryId, subscriptionId: target.delivery.subscriptionId, heldSlotAt },
        target.subscriptionThrottleRate,
        context,
      );
      if (turn.kind === 'wait') {
        const message = `the subscription is throttled to ${target.subscriptionThrottleRate}/s: its turn comes at ${new Date(turn.slotAt).toISOString()}`;
        throw notSent(message, SUBSCRIPTION_THROTTLED, { attemptsMade, sendAt: turn.slotAt });
      }
    }

    const startedAt = new Date();
    let response: PostResponse | undefined;
    let outcome: Outcome;
    let refused = false;
    let failure: unknown;
    const stopHeartbeats = keepHeartbeating(context, HEARTBEAT_INTERVAL_MS);
    const span = startAttemptSpan(target, context.info.attempt + (input.attemptsBefore ?? 0));
    try {
      assertUrlAllowed(target.url, deps.targets);
      const body = webhookBody(target.event);
      const headers = {
        ...target.headers,
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        ...signatureHeaders({
          id: target.event.id,
          timestamp: Math.floor(startedAt.getTime() / 1000),
          body,
          secrets: target.previousSecret ? [target.secret, target.previousSecret] : [target.secret],
        }),
        // traceparent (tracing on): the receiver may join the event's trace.
        ...traceHeaders(span),
      };
      response = await postWebhookRequest(deps.http, {
        url: target.url,
        headers,
        body,
        timeoutMs: input.attemptTimeoutMs,
        signal: context.cancellationSignal,
      });
      outcome = classifyResponse(response.statusCode, response.retryAfter, Date.now());
    } catch (error) {
      failure = error;
      if (context.cancellationSignal.aborted) throw error;
      refused = error instanceof TargetRefusedError;
      outcome = refused ? { kind: 'reject', reason: (error as Error).message } : classifyError(error);
    } finally {
      stopHeartbeats();
      endAttemptSpan(span, response?.statusCode, failure, refused);
    }

    const now = Date.now();
    const next =
      outcome.kind === 'retry'
        ? nextAttemptAt({
            policy: input.retryPolicy,
            attempt: context.info.attempt + (input.attemptsBefore ?? 0),
            now,
            windowEndsAt: context.info.scheduledTimestampMs + context.info.scheduleToCloseTimeoutMs,
            retryAfterMs: outcome.retryAfterMs,
          })
        : null;
    const { attempt, health } = await deps.deliveries.recordAttempt(input.deliveryId, {
      startedAt,
      durationMs: now - startedAt.getTime(),
      statusCode: response?.statusCode ?? null,
      error: outcome.kind === 'delivered' ? null : outcome.reason,
      responseBody: response?.body ?? null,
      url: target.url,
      nextAttemptAt: next === null ? null : new Date(next),
      delivered: outcome.kind === 'delivered',
      fastPathRun,
    });
    const durationMs = now - startedAt.getTime();
    if (health !== null && outcome.kind !== 'delivered') {
      await guardHealth(deps, {
        deliveryId: input.deliveryId,
        eventType: target.event.type,
        url: target.url,
        statusCode: response?.statusCode ?? null,
        reason: outcome.reason,
        health,
      });
    }
    await reportAttempt(deps, target, {
      number: attempt,
      class: attemptClassOf({ statusCode: response?.statusCode, error: failure, refused }),
      durationMs,
      delivered: outcome.kind === 'delivered',
      endedAt: now,
    });
    logAttempt(deps.logger, {
      deliveryId: input.deliveryId,
      eventType: target.event.type,
      attempt,
      outcome,
      statusCode: response?.statusCode,
      durationMs,
      nextAttemptAt: next,
    });
    // What the Temporal UI shows of a failed attempt (its failure message): what happened, which attempt, how long.
    const message = `${outcome.kind === 'delivered' ? '' : outcome.reason} (attempt ${attempt}, ${durationMs} ms)`;

    switch (outcome.kind) {
      case 'delivered':
        return { statusCode: response?.statusCode ?? 0, durationMs: now - startedAt.getTime(), attempt };
      case 'reject':
        throw finalFailure(message, refused ? FINAL_FAILURE_TYPES.targetRefused : FINAL_FAILURE_TYPES.receiverRejected);
      case 'retry':
        throw retryableFailure(message, next, outcome.retryAfterMs);
    }
  };
}
