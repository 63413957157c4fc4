/**
 * One scenario's deployment in split mode: its own database, task queue and API key, N API
 * processes and M worker processes against the shared Temporal and PostgreSQL servers, and a
 * timeline of the faults injected into it.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Cluster } from './cluster';
import type { FaultWindow } from './ledger';
import { callApi } from './publisher';
import { freePort, ServiceProcess } from './processes';
import type { CountingReceiver } from './receiver';
// Retries every second, so that retry paths finish within the scenario.
import { FAST_RETRY } from '../../helpers/retry-policies';
import { TEST_ENCRYPTION_KEYS } from '../../helpers/key-ring';

export const EVENT_TYPE = 'fault.event';

export interface DeploymentOptions {
  /** Short scenario key: names the database, queue, subscriptions and logs. */
  readonly name: string;
  readonly cluster: Cluster;
  readonly apis: number;
  readonly workers: number;
  /** Per-attempt timeout, ms. @default 3000 */
  readonly attemptTimeoutMs?: number;
  /** Extra environment of every process. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface DeliveryRow {
  readonly event_id: string;
  readonly subscription_id: string;
  readonly status: string;
  readonly attempt_count: number;
  readonly workflow_id: string;
}

export class Deployment {
  readonly apiKey = `fault-${randomUUID()}`;
  readonly taskQueue: string;
  readonly attemptTimeoutMs: number;
  readonly apis: Array<ServiceProcess | undefined> = [];
  readonly workers: Array<ServiceProcess | undefined> = [];
  /** Every process ever started, for teardown and per-process counts. */
  readonly started: ServiceProcess[] = [];
  readonly faults: FaultWindow[] = [];
  /** Subscription id by name, and name by id. */
  readonly subscriptions = new Map<string, string>();
  readonly subscriptionNames = new Map<string, string>();
  private readonly apiPorts: number[] = [];
  private pool: pg.Pool | undefined;

  private constructor(
    readonly options: DeploymentOptions,
    readonly databaseUrl: string,
  ) {
    this.taskQueue = `fault-${options.name}-${randomUUID().slice(0, 8)}`;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 3_000;
  }

  static async start(options: DeploymentOptions): Promise<Deployment> {
    const databaseUrl = await options.cluster.createDatabase(`fault_${options.name}_${randomUUID().slice(0, 8)}`);
    const deployment = new Deployment(options, databaseUrl);
    for (let i = 0; i < options.apis; i += 1) deployment.apiPorts.push(await freePort());
    // One process at a time: two cores, and each start compiles TypeScript (workers also bundle workflows).
    for (let i = 0; i < options.apis; i += 1) await deployment.startApi(i);
    for (let i = 0; i < options.workers; i += 1) await deployment.startWorker(i);
    return deployment;
  }

  private env(): Record<string, string> {
    return {
      TEMPORAL_ADDRESS: this.options.cluster.temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: this.taskQueue,
      DATABASE_URL: this.databaseUrl,
      DATA_DIR: this.options.cluster.dir,
      WEBHOOKS_API_KEYS: this.apiKey,
      WEBHOOKS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      WEBHOOKS_ALLOW_INSECURE_TARGETS: 'true',
      WEBHOOKS_ATTEMPT_TIMEOUT_MS: String(this.attemptTimeoutMs),
      ...this.options.env,
    };
  }

  async startApi(index: number): Promise<ServiceProcess> {
    const api = await ServiceProcess.start({
      name: `${this.options.name}-api-${index}-${this.started.length}`,
      mode: 'api',
      env: { ...this.env(), PORT: String(this.apiPorts[index]) },
      logDir: this.options.cluster.dir,
    });
    this.apis[index] = api;
    this.started.push(api);
    return api;
  }

  async startWorker(index: number): Promise<ServiceProcess> {
    const worker = await ServiceProcess.start({
      name: `${this.options.name}-worker-${index}-${this.started.length}`,
      mode: 'worker',
      env: this.env(),
      logDir: this.options.cluster.dir,
    });
    this.workers[index] = worker;
    this.started.push(worker);
    return worker;
  }

  /** URLs of the API processes running now. */
  apiUrls(): string[] {
    return this.apiPorts.filter((_port, i) => this.apis[i]?.running).map((port) => `http://127.0.0.1:${port}`);
  }

  /** URL of API `index`, running or not (clients keep calling it while it is down). */
  apiUrl(index = 0): string {
    return `http://127.0.0.1:${this.apiPorts[index]}`;
  }

  call<T = unknown>(method: string, path: string, body?: unknown, expect?: number[]): Promise<T> {
    return callApi<T>(this.apiUrls()[0] ?? this.apiUrl(0), this.apiKey, method, path, body, expect);
  }

  /** Registers the event type and `count` subscriptions posting to `receiver`. */
  async subscribe(
    receiver: CountingReceiver,
    count: number,
    retryPolicy: Record<string, unknown> = FAST_RETRY,
  ): Promise<string[]> {
    await this.call('POST', '/v1/event-types', { id: EVENT_TYPE, description: 'fault suite' }, [201, 409]);
    const names: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const name = `${this.options.name}-s${i}`;
      const sub = await this.call<{ id: string }>('POST', '/v1/subscriptions', {
        url: receiver.url(name),
        eventTypes: [EVENT_TYPE],
        retryPolicy,
      });
      this.subscriptions.set(name, sub.id);
      this.subscriptionNames.set(sub.id, name);
      names.push(name);
    }
    return names;
  }

  /** Records a fault on the timeline, from `start` to now. */
  mark(label: string, start: number, options: { cutsAttempts?: boolean } = {}): void {
    this.faults.push({ label, start, end: Date.now(), cutsAttempts: options.cutsAttempts ?? true });
  }

  /** A direct connection to the scenario's database, for checks the API does not offer. */
  db(): pg.Pool {
    if (!this.pool) {
      this.pool = new pg.Pool({ connectionString: this.databaseUrl, max: 2 });
      // PostgreSQL restarts in one scenario: a dropped idle connection is not an error here.
      this.pool.on('error', () => undefined);
    }
    return this.pool;
  }

  async deliveries(): Promise<DeliveryRow[]> {
    const { rows } = await this.db().query<DeliveryRow>(
      'SELECT event_id, subscription_id, status, attempt_count, workflow_id FROM deliveries',
    );
    return rows;
  }

  /**
   * Waits until no delivery is pending and `done()` holds, or the deadline passes. Returns whether
   * it settled; the caller counts what is missing either way.
   */
  async waitSettled(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const pending = await this.db()
        .query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'pending'`)
        .then(
          (r) => r.rows[0]?.n ?? 1,
          () => 1,
        );
      if (pending === 0 && done()) return true;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return false;
  }

  /** Stops every process (SIGTERM, then SIGKILL) and closes the database connection. */
  async stop(): Promise<void> {
    await Promise.all(this.started.map((p) => p.kill('SIGTERM', 15_000)));
    await this.pool?.end().catch(() => undefined);
  }
}
