/** What the benchmark (parent) and the service process (child) say to each other over IPC. */
import type { DeliveryMode } from '../core/model';

/** Worker settings a run may change; absent fields keep the SDK's defaults. */
export interface WorkerTuning {
  readonly maxCachedWorkflows?: number;
  readonly maxConcurrentWorkflowTaskExecutions?: number;
  readonly maxConcurrentActivityTaskExecutions?: number;
  readonly maxConcurrentLocalActivityExecutions?: number;
  readonly maxConcurrentWorkflowTaskPolls?: number;
  readonly maxConcurrentActivityTaskPolls?: number;
  readonly maxEagerActivityReservationsPerWorkflowTask?: number;
  readonly nonStickyToStickyPollRatio?: number;
}

export interface ServiceConfig {
  /** `service`: API + worker over PGlite, as `npm start`; `ceiling`: a bare worker and client for the minimal workflow. */
  readonly role: 'service' | 'ceiling';
  readonly temporalAddress: string;
  readonly namespace: string;
  readonly taskQueue: string;
  /**
   * Which halves of the service this process runs (service role): `all`, as `npm start`, or one
   * half of split mode, as `npm run api` / `npm run worker`.
   * @default 'all'
   */
  readonly parts?: 'all' | 'api' | 'worker';
  /** PostgreSQL URL (split mode); when absent, PGlite in storeDir. */
  readonly databaseUrl?: string;
  /** PGlite directory, in the run's temporary folder. */
  readonly storeDir: string;
  readonly apiKey: string;
  readonly attemptTimeoutMs: number;
  /** WEBHOOKS_DELIVERY_MODE of the service. @default 'per-delivery' */
  readonly deliveryMode?: DeliveryMode;
  /** WEBHOOKS_FAIRNESS of the service. @default true */
  readonly fairness?: boolean;
  readonly logFile: string;
  readonly logLevel: string;
  /** A pre-built workflow bundle; when absent the worker bundles workflows/ at start-up. */
  readonly workflowBundlePath?: string;
  readonly tuning: WorkerTuning;
  /** Start workflows eagerly: the client shares the worker's NativeConnection. */
  readonly eagerStart: boolean;
  /** Workflow starts in flight per event in the dispatcher; absent keeps its default. */
  readonly startConcurrency?: number;
  /**
   * What the service observes, to measure its cost (`--observability`): `off` (no metrics, no
   * tracing), `metrics` (ours and the Temporal SDK's, as `npm start`), `tracing` (spans exported
   * over OTLP to `tracingEndpoint`, metrics off). Absent: the service's defaults (our metrics).
   */
  readonly observability?: 'off' | 'metrics' | 'tracing';
  readonly tracingEndpoint?: string;
}

export interface ServiceReady {
  readonly type: 'ready';
  /** The API's base URL (service role only). */
  readonly apiUrl?: string;
  /** Start-up phases, ms. */
  readonly timings: Readonly<Record<string, number>>;
}

export interface ServiceStats {
  /** performance.timeOrigin + performance.now() in the service, ms since the epoch. */
  readonly at: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly cpuUserUs: number;
  readonly cpuSystemUs: number;
}

export interface CeilingClosedResult {
  /** Completion times, ms from the start of the run. */
  readonly completions: number[];
  /** Start → activity, ms. */
  readonly latencies: number[];
  readonly errors: number;
}

export interface CeilingOpenResult {
  /** Intended start → activity, ms. */
  readonly latencies: number[];
  readonly missing: number;
  readonly errors: number;
}

export type Command =
  | { readonly type: 'stats' }
  | { readonly type: 'ceiling-closed'; readonly concurrency: number; readonly durationMs: number }
  | { readonly type: 'ceiling-open'; readonly rate: number; readonly durationMs: number }
  | { readonly type: 'store-stats' }
  | { readonly type: 'profile-start' }
  | { readonly type: 'profile-stop'; readonly file: string }
  | { readonly type: 'stop' };

export interface Request {
  readonly id: number;
  readonly command: Command;
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };
