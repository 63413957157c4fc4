import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import pino, { type Logger } from 'pino';

/**
 * Paths pino masks wherever they appear in a logged object. Secrets and keys are not logged in
 * the first place; this is the second line of defence.
 */
const REDACTED_PATHS = [
  'secret',
  '*.secret',
  'secrets',
  '*.secrets',
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'callbackSecret',
  '*.callbackSecret',
];

/** Pretty-printed lines (pino-pretty, a development dependency) when a person watches a terminal. */
function terminalDestination(): pino.DestinationStream | undefined {
  if (!process.stdout.isTTY) return undefined;
  try {
    require.resolve('pino-pretty');
  } catch {
    return undefined;
  }
  return pino.transport({ target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'source' } });
}

/**
 * The service's logger: JSON lines on stdout (pretty-printed on a terminal when pino-pretty is
 * installed), or into `destination`.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: undefined },
    destination ?? terminalDestination(),
  );
}

/** pino's level names → the SDK's. */
const SDK_LEVEL: Readonly<Record<string, LogLevel>> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
  silent: 'ERROR',
};

/**
 * A failure the receiver caused, not a fault of ours: a routine line, not a warning with a stack.
 * Activities mark theirs benign where they throw them. A delivery workflow that fails is always
 * a delivery's outcome (its own faults fail the workflow task instead, and keep their stack); its
 * failure reaches this logger from the workflow thread as a plain Error, so it is told by the
 * log entry, not by the error.
 */
function isReceiversDoing(entry: LogEntry, error: unknown): boolean {
  if (typeof error === 'object' && error !== null && (error as { category?: unknown }).category === 'BENIGN')
    return true;
  return entry.message === 'Workflow failed' && entry.meta?.workflowType === 'deliveryWorkflow';
}

/** One SDK log entry as a pino line, `source: "temporal-sdk"`; an error's stack only when it is ours. */
function forwardSdkEntry(logger: Logger, entry: LogEntry): void {
  const { error, ...meta } = (entry.meta ?? {}) as Record<string, unknown>;
  let level = entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
  const fields: Record<string, unknown> = { source: 'temporal-sdk', ...meta };
  if (error !== undefined && isReceiversDoing(entry, error)) {
    // e.g. "Workflow failed" for a delivery the receiver refused: the outcome, in one line.
    fields.failure = { message: (error as { message?: unknown }).message };
    if (level === 'warn') level = 'info';
  } else if (error !== undefined) {
    fields.err = error;
  }
  logger[level](fields, entry.message);
}

export interface SdkTelemetryOptions {
  /**
   * Loopback port on which the SDK's native core serves its worker metrics (task slots, poll and
   * schedule-to-start latencies, sticky cache, workflow and activity task latencies…) in
   * Prometheus's text format, at `http://127.0.0.1:<port>/metrics`; the service's own `/metrics`
   * appends them (src/metrics/). Names follow Prometheus's conventions: `temporal_` prefix,
   * durations in seconds with a `_seconds` suffix, counters with `_total`. @default no SDK metrics
   */
  readonly metricsPort?: number;
}

/** Where the SDK's worker metrics are served on loopback, for a metrics port. */
export function sdkMetricsUrl(metricsPort: number): string {
  return `http://127.0.0.1:${metricsPort}/metrics`;
}

/**
 * Installs the Temporal SDK's runtime (once per process, before the first Temporal connection):
 * its logs, the worker's and its native core's, go through `logger` as JSON lines at its level,
 * instead of the SDK's own multi-line output; with `metricsPort`, its worker metrics are served
 * to Prometheus on that loopback port.
 */
export function installSdkLogging(logger: Logger, options: SdkTelemetryOptions = {}): void {
  const level = SDK_LEVEL[logger.level] ?? 'INFO';
  Runtime.install({
    logger: new DefaultLogger(level, (entry) => forwardSdkEntry(logger, entry)),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: level, other: 'WARN' }), forward: {} },
      ...(options.metricsPort !== undefined
        ? {
            metrics: {
              prometheus: {
                bindAddress: `127.0.0.1:${options.metricsPort}`,
                countersTotalSuffix: true,
                unitSuffix: true,
                useSecondsForDurations: true,
              },
            },
          }
        : {}),
    },
  });
}
