import path from 'node:path';
import { z } from 'zod';
import { parseCidr } from '../core/targets';
import type { DeliveryMode } from '../core/model';
import { parseDuration } from '../core/duration';
import type { AutoDisableSettings } from '../core/subscription-health';
import { KeyRing, KeyRingError } from './store/secret-box';

/**
 * Every environment variable the service reads, with its default. Nothing else reads `process.env`
 * (the Temporal CLI finder looks up PATH only).
 */
const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''])
  .default('false')
  .transform((value) => value === 'true' || value === '1');

/** A variable that may be unset or empty, both meaning unset. */
const optionalText = z.preprocess((value) => (value === '' ? undefined : value), z.string().min(1).optional());

const optionalUrl = z.preprocess(
  (value) => (value === '' ? undefined : value),
  z
    .string()
    .regex(/^https?:\/\/[^/]/i, 'must be an http:// or https:// URL')
    .url()
    .optional(),
);

const optionalMs = z.preprocess(
  (value) => (value === '' ? undefined : value),
  z.coerce.number().int().min(1).max(600_000).optional(),
);

const otlpProtocol = z
  .preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .string()
      .refine((value) => value === 'http/protobuf' || value === 'http/json', {
        message: "must be 'http/protobuf' or 'http/json' (gRPC is not supported: use the collector's HTTP port, 4318)",
      })
      .optional(),
  )
  .transform((value) => value as 'http/protobuf' | 'http/json' | undefined);

/** `key=value,key2=value2` (W3C Baggage-like, as the OTel variables write them), values URL-decoded. */
const keyValueList = z
  .string()
  .default('')
  .transform((value, ctx) => {
    const pairs: Record<string, string> = {};
    for (const part of value.split(',').map((item) => item.trim())) {
      if (part === '') continue;
      const at = part.indexOf('=');
      const key = at > 0 ? part.slice(0, at).trim() : '';
      if (!key) {
        ctx.addIssue({ code: 'custom', message: `'${part}' is not key=value` });
        continue;
      }
      try {
        pairs[key] = decodeURIComponent(part.slice(at + 1).trim());
      } catch {
        ctx.addIssue({ code: 'custom', message: `the value of '${key}' is not URL-encoded text` });
      }
    }
    return pairs;
  });

const envSchema = z.object({
  /** HTTP port of the API. @default 3000 */
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /**
   * HTTP port of `GET /healthz` in `worker` mode (a worker serves no API); unset: none, so several
   * workers can share a host. @default unset
   */
  WORKER_HEALTH_PORT: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z.coerce.number().int().min(0).max(65535).optional(),
  ),
  /**
   * HTTP port of `GET /metrics` in `worker` mode (the API and `npm start` serve it on PORT, and
   * ignore this, as they ignore WORKER_HEALTH_PORT); may equal WORKER_HEALTH_PORT, and one server
   * then answers both. Unset: none. @default unset
   */
  METRICS_PORT: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z.coerce.number().int().min(0).max(65535).optional(),
  ),
  /** Address of an existing Temporal frontend; unset means "start the embedded dev server". */
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  /** Temporal namespace. @default "default" */
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Task queue the worker polls and the API starts deliveries on. @default "webhook-deliveries" */
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('webhook-deliveries'),
  /** Base URL of the Temporal UI, for `temporalUiUrl` links. @default the embedded dev server's UI */
  TEMPORAL_UI_URL: z.string().url().optional(),
  /** Explicit path of the `temporal` CLI used for the embedded dev server. */
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  /** Workflow code bundled ahead of time (`npm run bundle`); unset: the worker bundles workflows/ at start. */
  TEMPORAL_WORKFLOW_BUNDLE: z.string().min(1).optional(),
  /** Port of the embedded dev server's frontend. @default 7233 */
  TEMPORAL_DEV_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  /** Port of the embedded dev server's web UI. @default 8233 */
  TEMPORAL_DEV_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  /** PostgreSQL connection string; unset means the embedded PGlite store under DATA_DIR. */
  DATABASE_URL: z.string().min(1).optional(),
  /** Where the embedded mode keeps its store, Temporal database and generated API key. @default ./.data */
  DATA_DIR: z.string().min(1).default('.data'),
  /** Comma-separated admin API keys. Unset in embedded mode: one is generated into DATA_DIR. */
  WEBHOOKS_API_KEYS: z.string().optional(),
  /**
   * The key ring sealing signing and callback secrets at rest (src/store/secret-box.ts):
   * comma-separated `<key id>:<base64 of 32 bytes>`, the first seals, all open. Unset: `npm start`
   * with the embedded store generates one into DATA_DIR; with DATABASE_URL the service refuses to
   * start. @default unset
   */
  WEBHOOKS_ENCRYPTION_KEYS: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .string()
      .transform((value, ctx) => {
        try {
          return KeyRing.parse(value);
        } catch (error) {
          if (!(error instanceof KeyRingError)) throw error;
          ctx.addIssue({ code: 'custom', message: error.message });
          return z.NEVER;
        }
      })
      .optional(),
  ),
  /** Allow http:// and private-network delivery targets (tests and local demos only). @default false */
  WEBHOOKS_ALLOW_INSECURE_TARGETS: booleanFlag,
  /**
   * Comma-separated CIDRs that delivery targets may reach despite the address rules (private,
   * loopback, link-local…), e.g. `10.20.0.0/16,fd12:3456::/48`. @default none
   */
  WEBHOOKS_ALLOWED_TARGET_CIDRS: z
    .string()
    .default('')
    .transform((value, ctx) => {
      const cidrs = value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part.length > 0);
      for (const cidr of cidrs) {
        if (!parseCidr(cidr))
          ctx.addIssue({ code: 'custom', message: `'${cidr}' is not a CIDR such as 10.0.0.0/8 or fd00::/8` });
      }
      return cidrs;
    }),
  /** Comma-separated ports delivery targets may use, e.g. `443,8443`. @default any port */
  WEBHOOKS_ALLOWED_TARGET_PORTS: z
    .string()
    .default('')
    .transform((value, ctx) => {
      const ports = value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part.length > 0);
      for (const port of ports) {
        if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
          ctx.addIssue({ code: 'custom', message: `'${port}' is not a port` });
      }
      return ports.map(Number);
    }),
  /**
   * `per-delivery`: one workflow per delivery, from its first attempt. `per-subscriber`
   * (throughput mode): a long-lived workflow per subscription makes first attempts; a delivery
   * whose first attempt is not answered 2xx gets its own workflow. @default "per-delivery"
   */
  WEBHOOKS_DELIVERY_MODE: z.enum(['per-delivery', 'per-subscriber']).default('per-delivery'),
  /**
   * A subscription none of whose attempts succeeded for this long is disabled (`active` false,
   * its pending deliveries cancelled): a duration ("5d", "12h"), or `off`. @default "5d"
   */
  WEBHOOKS_DISABLE_AFTER: z
    .string()
    .default('5d')
    .transform((value, ctx) => {
      if (value.trim() === 'off') return null;
      const ms = parseDuration(value);
      if (ms === undefined || ms < 1_000) {
        ctx.addIssue({
          code: 'custom',
          message: `'${value}' is not "off" or a duration of at least 1s such as 5d or 12h`,
        });
        return z.NEVER;
      }
      return ms;
    }),
  /** A receiver answering 410 Gone disables its subscription at once. @default true */
  WEBHOOKS_DISABLE_ON_GONE: z
    .enum(['true', 'false', '1', '0', ''])
    .default('true')
    .transform((value) => value !== 'false' && value !== '0'),
  /**
   * Tenant fairness: each delivery's workflow and activity tasks carry its account as Temporal's
   * fairness key (vendor-level events under one key of their own), so one account's backlog does
   * not hold back another's deliveries. Needs a Temporal server with fairness enabled
   * (`matching.enableFairness`; the embedded server and compose turn it on). @default true
   */
  WEBHOOKS_FAIRNESS: z
    .enum(['true', 'false', '1', '0', ''])
    .default('true')
    .transform((value) => value !== 'false' && value !== '0'),
  /**
   * Events, deliveries and attempts older than this are removed, daily, by the retention workflow
   * (a Temporal Schedule); never a pending delivery nor its event. A duration of at least 1m
   * ("30d", "12h"). @default "30d"
   */
  WEBHOOKS_RETENTION: z
    .string()
    .default('30d')
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || ms < 60_000) {
        ctx.addIssue({ code: 'custom', message: `'${value}' is not a duration of at least 1m such as 30d or 12h` });
        return z.NEVER;
      }
      return ms;
    }),
  /** Per-attempt timeout of the POST to a receiver, ms. @default 15000 */
  WEBHOOKS_ATTEMPT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(15_000),
  /** Largest accepted request body, bytes. @default 1048576 */
  WEBHOOKS_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /** pino log level. @default "info" */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // OpenTelemetry tracing: the standard variables (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
  // Off unless an OTLP endpoint is set.
  /** `true` turns tracing off whatever else is set. @default false */
  OTEL_SDK_DISABLED: booleanFlag,
  /** `otlp` (the default) or `none`. */
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none', '']).default('otlp'),
  /** Base URL of an OTLP/HTTP collector; traces go to `<endpoint>/v1/traces`. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  /** Full URL traces are posted to; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  /** `http/protobuf` (the default) or `http/json`; gRPC is not supported (use the collector's HTTP port, 4318). */
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol,
  /** `key=value,…` headers sent to the collector (e.g. an API key), values URL-encoded. */
  OTEL_EXPORTER_OTLP_HEADERS: keyValueList,
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: keyValueList,
  /** How long one export may take, ms. @default 10000 */
  OTEL_EXPORTER_OTLP_TIMEOUT: optionalMs,
  OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: optionalMs,
  /** `service.name` of the spans. @default "webhook-delivery" */
  OTEL_SERVICE_NAME: optionalText,
  /** `key=value,…` resource attributes, e.g. `deployment.environment=prod`. */
  OTEL_RESOURCE_ATTRIBUTES: keyValueList,
  /** Which traces are kept. @default parentbased_always_on */
  OTEL_TRACES_SAMPLER: z
    .enum([
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
      '',
    ])
    .default('parentbased_always_on'),
  /** The ratio of the traceidratio samplers, 0–1. @default 1 */
  OTEL_TRACES_SAMPLER_ARG: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z.coerce.number().min(0).max(1).optional(),
  ),
});

export interface Config {
  readonly port: number;
  /** Port of the worker's health endpoint (`worker` mode only); undefined: none. */
  readonly workerHealthPort: number | undefined;
  /** Port of the worker's `GET /metrics` (`worker` mode only); undefined: none. */
  readonly metricsPort: number | undefined;
  readonly temporal: {
    /** Undefined: start the embedded dev server. */
    readonly address: string | undefined;
    readonly namespace: string;
    readonly taskQueue: string;
    readonly uiUrl: string;
    readonly cliPath: string | undefined;
    /** Path of a prebuilt workflow bundle; undefined: bundle at start-up. */
    readonly workflowBundlePath: string | undefined;
    readonly devPort: number;
    readonly devUiPort: number;
  };
  /** Undefined: the embedded PGlite store under dataDir. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly apiKeys: readonly string[];
  /** WEBHOOKS_ENCRYPTION_KEYS; undefined: unset (main.ts generates one for the embedded store, or refuses). */
  readonly encryptionKeys: KeyRing | undefined;
  readonly allowInsecureTargets: boolean;
  /** CIDRs opened despite the target address rules; empty: none. */
  readonly allowedTargetCidrs: readonly string[];
  /** Ports targets may use; empty: any. */
  readonly allowedTargetPorts: readonly number[];
  /** WEBHOOKS_DELIVERY_MODE. */
  readonly deliveryMode: DeliveryMode;
  /** WEBHOOKS_DISABLE_AFTER and WEBHOOKS_DISABLE_ON_GONE. */
  readonly autoDisable: AutoDisableSettings;
  /** WEBHOOKS_FAIRNESS. */
  readonly fairness: boolean;
  /** WEBHOOKS_RETENTION, ms. */
  readonly retentionMs: number;
  readonly attemptTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly logLevel: string;
  /** OpenTelemetry tracing to an OTLP/HTTP collector; undefined: off. */
  readonly tracing: TracingSettings | undefined;
}

/** Where and how traces are exported (from the standard OTEL_* variables). */
export interface TracingSettings {
  /** The full URL spans are posted to, e.g. `http://collector:4318/v1/traces`. */
  readonly endpoint: string;
  readonly protocol: 'http/protobuf' | 'http/json';
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly serviceName: string;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly sampler: {
    readonly name:
      | 'always_on'
      | 'always_off'
      | 'traceidratio'
      | 'parentbased_always_on'
      | 'parentbased_always_off'
      | 'parentbased_traceidratio';
    /** The traceidratio samplers' ratio. */
    readonly ratio: number;
  };
}

/** The tracing the OTEL_* variables ask for: undefined unless an OTLP endpoint is set and nothing turns it off. */
function tracingOf(e: z.infer<typeof envSchema>): TracingSettings | undefined {
  if (e.OTEL_SDK_DISABLED || e.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const endpoint =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (e.OTEL_EXPORTER_OTLP_ENDPOINT === undefined
      ? undefined
      : `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`);
  if (endpoint === undefined) return undefined;
  return Object.freeze({
    endpoint,
    protocol: e.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? e.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf',
    headers: Object.freeze({ ...e.OTEL_EXPORTER_OTLP_HEADERS, ...e.OTEL_EXPORTER_OTLP_TRACES_HEADERS }),
    timeoutMs: e.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? e.OTEL_EXPORTER_OTLP_TIMEOUT ?? 10_000,
    serviceName: e.OTEL_SERVICE_NAME ?? 'webhook-delivery',
    resourceAttributes: Object.freeze({ ...e.OTEL_RESOURCE_ATTRIBUTES }),
    sampler: Object.freeze({
      name: e.OTEL_TRACES_SAMPLER === '' ? 'parentbased_always_on' : e.OTEL_TRACES_SAMPLER,
      ratio: e.OTEL_TRACES_SAMPLER_ARG ?? 1,
    }),
  });
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses and validates the environment once, at start-up. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  return Object.freeze({
    port: e.PORT,
    workerHealthPort: e.WORKER_HEALTH_PORT,
    metricsPort: e.METRICS_PORT,
    temporal: Object.freeze({
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiUrl: (e.TEMPORAL_UI_URL ?? `http://localhost:${e.TEMPORAL_DEV_UI_PORT}`).replace(/\/+$/, ''),
      cliPath: e.TEMPORAL_CLI_PATH,
      workflowBundlePath:
        e.TEMPORAL_WORKFLOW_BUNDLE === undefined ? undefined : path.resolve(e.TEMPORAL_WORKFLOW_BUNDLE),
      devPort: e.TEMPORAL_DEV_PORT,
      devUiPort: e.TEMPORAL_DEV_UI_PORT,
    }),
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR),
    apiKeys: Object.freeze(
      (e.WEBHOOKS_API_KEYS ?? '')
        .split(',')
        .map((key) => key.trim())
        .filter((key) => key.length > 0),
    ),
    encryptionKeys: e.WEBHOOKS_ENCRYPTION_KEYS,
    allowInsecureTargets: e.WEBHOOKS_ALLOW_INSECURE_TARGETS,
    allowedTargetCidrs: Object.freeze(e.WEBHOOKS_ALLOWED_TARGET_CIDRS),
    allowedTargetPorts: Object.freeze(e.WEBHOOKS_ALLOWED_TARGET_PORTS),
    deliveryMode: e.WEBHOOKS_DELIVERY_MODE,
    autoDisable: Object.freeze({ disableAfterMs: e.WEBHOOKS_DISABLE_AFTER, disableOnGone: e.WEBHOOKS_DISABLE_ON_GONE }),
    fairness: e.WEBHOOKS_FAIRNESS,
    retentionMs: e.WEBHOOKS_RETENTION,
    attemptTimeoutMs: e.WEBHOOKS_ATTEMPT_TIMEOUT_MS,
    maxBodyBytes: e.WEBHOOKS_MAX_BODY_BYTES,
    logLevel: e.LOG_LEVEL,
    tracing: tracingOf(e),
  });
}
