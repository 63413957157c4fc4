/**
 * The workflow interceptors bundled with the workflow code (src/temporal/workflow-bundle.ts):
 * OpenTelemetry's (`@temporalio/interceptors-opentelemetry`), for workflows that were started
 * traced only. A workflow whose start carries a trace context (the API's client interceptor puts
 * it in the `_tracer-data` header when tracing is on) gets a `RunWorkflow` span and a
 * `StartActivity` span per attempt, which pass the context on to the activity; any other runs
 * exactly as without these interceptors: no span, no sink call, no extra yield. The header is in
 * the history, so a replay takes the same path.
 */
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type {
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptorsFactory,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/** The header the OpenTelemetry interceptors carry a trace context in. */
const TRACE_HEADER = '_tracer-data';

const carriesTrace = (headers: Readonly<Record<string, unknown>>): boolean => Object.hasOwn(headers, TRACE_HEADER);

type Inbound = Required<
  Pick<WorkflowInboundCallsInterceptor, 'execute' | 'handleSignal' | 'handleUpdate' | 'validateUpdate' | 'handleQuery'>
>;
type Outbound = Required<
  Pick<
    WorkflowOutboundCallsInterceptor,
    'scheduleActivity' | 'scheduleLocalActivity' | 'continueAsNew' | 'signalWorkflow' | 'getLogAttributes'
  >
>;

export const interceptors: WorkflowInterceptorsFactory = () => {
  // Made on first use only: an untraced workflow never creates the sandbox's tracer.
  let inbound: Inbound | undefined;
  let outbound: Outbound | undefined;
  const otelInbound = (): Inbound => (inbound ??= new OpenTelemetryInboundInterceptor() as unknown as Inbound);
  const otelOutbound = (): Outbound => (outbound ??= new OpenTelemetryOutboundInterceptor() as unknown as Outbound);
  /** Whether this workflow was started traced: its outbound calls are traced too. */
  let traced = false;

  return {
    inbound: [
      {
        execute(input, next) {
          if (!carriesTrace(input.headers)) return next(input);
          traced = true;
          return otelInbound().execute(input, next);
        },
        handleSignal: (input, next) =>
          carriesTrace(input.headers) ? otelInbound().handleSignal(input, next) : next(input),
        handleUpdate: (input, next) =>
          carriesTrace(input.headers) ? otelInbound().handleUpdate(input, next) : next(input),
        validateUpdate: (input, next) =>
          carriesTrace(input.headers) ? otelInbound().validateUpdate(input, next) : next(input),
        handleQuery: (input, next) =>
          carriesTrace(input.headers) ? otelInbound().handleQuery(input, next) : next(input),
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => (traced ? otelOutbound().scheduleActivity(input, next) : next(input)),
        scheduleLocalActivity: (input, next) =>
          traced ? otelOutbound().scheduleLocalActivity(input, next) : next(input),
        continueAsNew: (input, next) => (traced ? otelOutbound().continueAsNew(input, next) : next(input)),
        signalWorkflow: (input, next) => (traced ? otelOutbound().signalWorkflow(input, next) : next(input)),
        getLogAttributes: (input, next) => (traced ? otelOutbound().getLogAttributes(input, next) : next(input)),
      },
    ],
    // Disables the sandbox's trace context store when a traced workflow made one; else does nothing.
    internals: [new OpenTelemetryInternalsInterceptor()],
  };
};
