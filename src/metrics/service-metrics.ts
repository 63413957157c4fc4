/**
 * The service's Prometheus metrics (prom-client), one registry per service: the API's requests,
 * the events it accepts, the worker's attempts and delivery outcomes (through the activities'
 * port, activities/metrics.ts), the outbox and pending gauges read from the store on each
 * scrape, and Node's process metrics. Every label is bounded: a route template, a method, a
 * status, an event type (a registered catalog), an attempt class, an outcome.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AttemptClass, DeliveryMetrics, DeliveryOutcome } from '../../activities/metrics';

/** What the gauges read from the store when scraped. */
export interface BacklogProbe {
  /** Events not yet dispatched (their workflows not all started) and the oldest one's acceptance. */
  outbox(): Promise<{ count: number; oldestCreatedAt: Date | null }>;
  /** Deliveries not yet ended. */
  pendingDeliveries(): Promise<number>;
}

/** HTTP methods kept as label values; any other is `OTHER`. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** API answers: from a millisecond to a cancel waiting 10 s on its workflow. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** One attempt: from a loopback answer to the longest attempt timeout (120 s). */
const ATTEMPT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120];
/** Acceptance to the first 2xx: from the first attempt (milliseconds) to the end of a 48-hour window. */
const LATENCY_BUCKETS = [
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3_600,
  3 * 3_600,
  12 * 3_600,
  48 * 3_600,
];

export interface ServiceMetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC, handles). @default true */
  readonly processMetrics?: boolean;
  /**
   * Where the Temporal SDK serves its worker metrics on loopback (src/logger.ts): appended to
   * every scrape, so one endpoint per process carries both. @default none
   */
  readonly sdkMetricsUrl?: string;
}

/** How long a scrape waits for the SDK's metrics, ms. */
const SDK_METRICS_TIMEOUT_MS = 2_000;

export class ServiceMetrics implements DeliveryMetrics {
  readonly registry = new Registry();
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly eventsAccepted: Counter<'event_type'>;
  private readonly deliveriesEnded: Counter<'outcome' | 'event_type'>;
  private readonly attempts: Counter<'class' | 'event_type'>;
  private readonly attemptDuration: Histogram<'class'>;
  private readonly latency: Histogram;
  private readonly sdkMetricsUrl: string | undefined;

  constructor(options: ServiceMetricsOptions = {}) {
    this.sdkMetricsUrl = options.sdkMetricsUrl;
    const registers = [this.registry];
    this.httpDuration = new Histogram({
      name: 'webhook_http_request_duration_seconds',
      help: 'API requests by route template, method and status: time from the request to the end of the answer',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.eventsAccepted = new Counter({
      name: 'webhook_events_accepted_total',
      help: 'Events accepted (202 to a new event; repeats of an idempotent post are not counted), by event type',
      labelNames: ['event_type'],
      registers,
    });
    this.deliveriesEnded = new Counter({
      name: 'webhook_deliveries_ended_total',
      help: 'Deliveries ended, by outcome (succeeded, failed, cancelled) and event type',
      labelNames: ['outcome', 'event_type'],
      registers,
    });
    this.attempts = new Counter({
      name: 'webhook_attempts_total',
      help: 'Delivery attempts made, by class (2xx, 3xx, 4xx, 5xx, timeout, network, refused) and event type',
      labelNames: ['class', 'event_type'],
      registers,
    });
    this.attemptDuration = new Histogram({
      name: 'webhook_attempt_duration_seconds',
      help: 'Duration of one delivery attempt (connect, send, the answer), by class',
      labelNames: ['class'],
      buckets: ATTEMPT_BUCKETS,
      registers,
    });
    this.latency = new Histogram({
      name: 'webhook_delivery_latency_seconds',
      help: "From an event's acceptance to its delivery's first 2xx",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The metrics in Prometheus's text format, gauges read now, the SDK's worker metrics after ours. */
  async text(): Promise<string> {
    const [own, sdk] = await Promise.all([this.registry.metrics(), this.sdkText()]);
    return sdk === undefined ? own : `${own.endsWith('\n') ? own : `${own}\n`}${sdk}`;
  }

  /** The SDK's metrics text; a comment line (which Prometheus ignores) when they cannot be read. */
  private async sdkText(): Promise<string | undefined> {
    if (this.sdkMetricsUrl === undefined) return undefined;
    try {
      const response = await fetch(this.sdkMetricsUrl, { signal: AbortSignal.timeout(SDK_METRICS_TIMEOUT_MS) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return await response.text();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return `# Temporal SDK metrics unavailable: ${reason.replace(/\s+/g, ' ')}\n`;
    }
  }

  /** One API request answered: `route` is its template (`/v1/deliveries/:id`), never the path itself. */
  httpRequest(request: { method: string; route: string; status: number; seconds: number }): void {
    const method = METHODS.has(request.method) ? request.method : 'OTHER';
    this.httpDuration.observe({ method, route: request.route, status: String(request.status) }, request.seconds);
  }

  eventAccepted(eventType: string): void {
    this.eventsAccepted.inc({ event_type: eventType });
  }

  attemptMade(attempt: { eventType: string; class: AttemptClass; durationMs: number }): void {
    this.attempts.inc({ class: attempt.class, event_type: attempt.eventType });
    this.attemptDuration.observe({ class: attempt.class }, attempt.durationMs / 1000);
  }

  deliveryEnded(ended: { eventType: string; outcome: DeliveryOutcome }): void {
    this.deliveriesEnded.inc({ outcome: ended.outcome, event_type: ended.eventType });
  }

  firstSuccess(success: { eventType: string; sinceAcceptedMs: number }): void {
    this.latency.observe(Math.max(0, success.sinceAcceptedMs) / 1000);
  }

  /**
   * The store's gauges, read on each scrape (two index-backed counts; concurrent scrapes share
   * one read). A read that fails leaves the last values. API processes export them: the store is
   * shared, so take max() across instances.
   */
  watchBacklog(probe: BacklogProbe): void {
    const registers = [this.registry];
    const outbox = shared(() => probe.outbox());
    const pending = shared(() => probe.pendingDeliveries());
    new Gauge({
      name: 'webhook_outbox_backlog_events',
      help: 'Events accepted whose delivery workflows are not all started yet (the outbox)',
      registers,
      async collect() {
        const read = await outbox().catch(() => undefined);
        if (read) this.set(read.count);
      },
    });
    new Gauge({
      name: 'webhook_outbox_oldest_age_seconds',
      help: 'Age of the oldest event in the outbox; 0 when it is empty',
      registers,
      async collect() {
        const read = await outbox().catch(() => undefined);
        if (read)
          this.set(read.oldestCreatedAt ? Math.max(0, (Date.now() - read.oldestCreatedAt.getTime()) / 1000) : 0);
      },
    });
    new Gauge({
      name: 'webhook_deliveries_pending',
      help: 'Deliveries not yet ended (first attempt to come, or retrying)',
      registers,
      async collect() {
        const read = await pending().catch(() => undefined);
        if (read !== undefined) this.set(read);
      },
    });
  }
}

/** Calls made while one is in flight share its result. */
function shared<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => (inFlight ??= read().finally(() => (inFlight = undefined)));
}
