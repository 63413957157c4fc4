/**
 * OpenTelemetry tracing, process-wide: off unless the OTEL_* variables name an OTLP endpoint
 * (src/config.ts). Once started, one trace follows an event: the API's `POST /v1/events` span
 * (continuing the producer's `traceparent`), the workflow start (the Temporal client
 * interceptor), the workflow and each attempt (the Temporal workflow and activity interceptors,
 * workflows/interceptors.ts), and the POST to the receiver, which carries `traceparent`.
 */
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Resource } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { TracingSettings } from './config';

/** The instrumentation scope of the service's own spans (the API's, the POST to the receiver). */
export const TRACER_NAME = 'webhook-delivery';

export interface Tracing {
  readonly tracer: Tracer;
  /** The resource of every span (service.name…), for the workflow spans' sink. */
  readonly resource: Resource;
  /** Where spans go: also the workflow interceptors' sink (see src/worker.ts). */
  readonly spanProcessor: SpanProcessor;
  /** Exports what is buffered. */
  forceFlush(): Promise<void>;
  /** Exports what is buffered, then unregisters the provider, the context manager and the propagator. */
  shutdown(): Promise<void>;
}

function samplerOf({ name, ratio }: TracingSettings['sampler']): Sampler {
  const root =
    name === 'always_off' || name === 'parentbased_always_off'
      ? new AlwaysOffSampler()
      : name === 'traceidratio' || name === 'parentbased_traceidratio'
        ? new TraceIdRatioBasedSampler(ratio)
        : new AlwaysOnSampler();
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

export interface TracingOptions {
  readonly exporter: SpanExporter;
  /** `batch` for production (spans are sent in the background), `simple` to see each span at once (tests). @default batch */
  readonly processor?: 'batch' | 'simple';
  readonly serviceName?: string;
  readonly resourceAttributes?: Readonly<Record<string, string>>;
  readonly sampler?: Sampler;
}

/**
 * Registers a tracer provider for the process (context manager: AsyncLocalStorage; propagator:
 * W3C trace context and baggage) that sends spans to `exporter`.
 */
export function startTracingWith(options: TracingOptions): Tracing {
  const resource = Resource.default().merge(
    new Resource({ 'service.name': options.serviceName ?? TRACER_NAME, ...options.resourceAttributes }),
  );
  const spanProcessor =
    options.processor === 'simple'
      ? new SimpleSpanProcessor(options.exporter)
      : new BatchSpanProcessor(options.exporter);
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [spanProcessor],
    ...(options.sampler ? { sampler: options.sampler } : {}),
  });
  provider.register();
  return {
    tracer: provider.getTracer(TRACER_NAME),
    resource,
    spanProcessor,
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** Tracing to the OTLP/HTTP collector the settings name. */
export function startTracing(settings: TracingSettings): Tracing {
  const exporterOptions = {
    url: settings.endpoint,
    headers: { ...settings.headers },
    timeoutMillis: settings.timeoutMs,
  };
  return startTracingWith({
    exporter:
      settings.protocol === 'http/json'
        ? new OtlpJsonExporter(exporterOptions)
        : new OtlpProtobufExporter(exporterOptions),
    serviceName: settings.serviceName,
    resourceAttributes: settings.resourceAttributes,
    sampler: samplerOf(settings.sampler),
  });
}
