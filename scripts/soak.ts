/**
 * Soak run: the API and a worker as real processes (split mode, against a Temporal dev server and
 * a PostgreSQL of their own) under a steady load for a long while, sampling their resident memory.
 * Prints the samples and the slope of RSS over time, the number to watch for leaks.
 *
 *   npm run soak                                # 10 minutes, 5 events/s × 2 subscriptions
 *   SOAK_MINUTES=3 SOAK_RATE=10 npm run soak
 *
 * Environment: SOAK_MINUTES (default 10), SOAK_RATE events per second (default 5),
 * SOAK_SUBSCRIPTIONS (default 2), SOAK_SAMPLE_SECONDS (default 10), SOAK_OUT (write the samples
 * and slopes as JSON there). Needs PostgreSQL's server binaries (scripts/install-postgres.sh).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TOOLS_DIR, findTemporalCli } from '../devtools/temporal-cli';
import { devServerSearchAttributes, startDevServer, type DevServer } from '../devtools/temporal-dev-server';
import { SEARCH_ATTRIBUTE_KEYS } from '../core/search-attributes';
import { startPostgres, type TestPostgres } from '../test/helpers/postgres';
import { freePort, ServiceProcess } from '../test/fault/support/processes';
import { callApi } from '../test/fault/support/publisher';
import { CountingReceiver } from '../test/fault/support/receiver';
import { TEST_ENCRYPTION_KEYS } from '../test/helpers/key-ring';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const RATE = Number(process.env.SOAK_RATE ?? 5);
const SUBSCRIPTIONS = Number(process.env.SOAK_SUBSCRIPTIONS ?? 2);
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_SECONDS ?? 10) * 1000;
/** Samples before this share of the run are warm-up (JIT, caches, pools filling) and left out of the steady slope. */
const WARM_UP_SHARE = 0.2;
const MB = 1024 * 1024;

interface Sample {
  /** Seconds since the load started. */
  readonly t: number;
  readonly apiRssMb: number;
  readonly workerRssMb: number;
  readonly posted: number;
  readonly delivered: number;
}

/** Least-squares slope of y over x. */
function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

/** MB per hour from samples (t in s, rss in MB). */
function mbPerHour(samples: readonly Sample[], pick: (s: Sample) => number): number {
  return slope(samples.map((s) => [s.t, pick(s)] as const)) * 3600;
}

const log = (msg: string): void => void process.stdout.write(`${msg}\n`);

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-soak-'));
  const cleanups: Array<() => Promise<unknown>> = [async () => rm(dir, { recursive: true, force: true })];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse())
      await fn().catch((error: unknown) => log(`cleanup: ${String(error)}`));
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const cliPath = await findTemporalCli({
      explicitPath: process.env.TEMPORAL_CLI_PATH,
      toolsDir: DEFAULT_TOOLS_DIR,
      log,
    });
    const temporal: DevServer = await startDevServer({
      cliPath,
      dbFile: path.join(dir, 'temporal.db'),
      port: await freePort(),
      uiPort: await freePort(),
      namespace: 'default',
      searchAttributes: devServerSearchAttributes(SEARCH_ATTRIBUTE_KEYS),
      headless: true,
      logger: { info() {}, warn() {}, error() {} },
    });
    cleanups.push(() => temporal.stop());
    const postgres: TestPostgres = await startPostgres();
    cleanups.push(() => postgres.stop());
    const receiver = await CountingReceiver.start();
    cleanups.push(() => receiver.close());

    const apiKey = 'soak-key';
    const port = await freePort();
    const env = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: 'soak',
      DATABASE_URL: postgres.url,
      DATA_DIR: dir,
      WEBHOOKS_API_KEYS: apiKey,
      WEBHOOKS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      WEBHOOKS_ALLOW_INSECURE_TARGETS: 'true',
    };
    const api = await ServiceProcess.start({
      name: 'api',
      mode: 'api',
      env: { ...env, PORT: String(port) },
      logDir: dir,
      readyTimeoutMs: 120_000,
    });
    cleanups.push(() => api.kill('SIGTERM'));
    const worker = await ServiceProcess.start({
      name: 'worker',
      mode: 'worker',
      env,
      logDir: dir,
      readyTimeoutMs: 120_000,
    });
    cleanups.push(() => worker.kill('SIGTERM'));
    const url = `http://127.0.0.1:${port}`;

    await callApi(url, apiKey, 'POST', '/v1/event-types', { id: 'soak.event', description: 'soak' });
    for (let i = 0; i < SUBSCRIPTIONS; i += 1) {
      await callApi(url, apiKey, 'POST', '/v1/subscriptions', {
        url: receiver.url(`soak-${i}`),
        eventTypes: ['soak.event'],
      });
    }

    log(
      `soak: ${MINUTES} min, ${RATE} events/s × ${SUBSCRIPTIONS} subscriptions, RSS sampled every ${SAMPLE_MS / 1000} s`,
    );
    const startedAt = Date.now();
    const endsAt = startedAt + MINUTES * 60_000;
    let posted = 0;
    let failed = 0;
    const inFlight = new Set<Promise<void>>();
    const samples: Sample[] = [];

    const sample = async (): Promise<void> => {
      const [apiRss, workerRss] = await Promise.all([api.rssBytes(), worker.rssBytes()]);
      if (apiRss === undefined || workerRss === undefined)
        throw new Error('the API or the worker exited during the soak');
      const s: Sample = {
        t: Math.round((Date.now() - startedAt) / 1000),
        apiRssMb: apiRss / MB,
        workerRssMb: workerRss / MB,
        posted,
        delivered: receiver.receipts.length,
      };
      samples.push(s);
      const backlog = posted * SUBSCRIPTIONS - s.delivered;
      log(
        `t=${String(s.t).padStart(4)} s  api ${s.apiRssMb.toFixed(1)} MB  worker ${s.workerRssMb.toFixed(1)} MB  posted ${posted}  delivered ${s.delivered}  backlog ${backlog}${failed ? `  failed posts ${failed}` : ''}`,
      );
    };

    await sample();
    let nextSample = startedAt + SAMPLE_MS;
    while (Date.now() < endsAt) {
      // Post at a steady rate; keep at most 64 requests in flight.
      const due = Math.floor(((Date.now() - startedAt) / 1000) * RATE);
      while (posted < due && inFlight.size < 64) {
        posted += 1;
        const request = callApi(url, apiKey, 'POST', '/v1/events', {
          type: 'soak.event',
          data: { n: posted, pad: 'x'.repeat(512) },
        })
          .then(
            () => undefined,
            () => void (failed += 1),
          )
          .finally(() => inFlight.delete(request));
        inFlight.add(request);
      }
      if (Date.now() >= nextSample) {
        await sample();
        nextSample += SAMPLE_MS;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await Promise.all(inFlight);
    await sample();

    const steady = samples.filter((s) => s.t >= MINUTES * 60 * WARM_UP_SHARE);
    const result = {
      minutes: MINUTES,
      ratePerSecond: RATE,
      subscriptions: SUBSCRIPTIONS,
      posted,
      failedPosts: failed,
      delivered: receiver.receipts.length,
      slopeMbPerHour: {
        api: { whole: mbPerHour(samples, (s) => s.apiRssMb), afterWarmUp: mbPerHour(steady, (s) => s.apiRssMb) },
        worker: {
          whole: mbPerHour(samples, (s) => s.workerRssMb),
          afterWarmUp: mbPerHour(steady, (s) => s.workerRssMb),
        },
      },
      samples,
    };
    const fmt = (n: number): string => `${n >= 0 ? '+' : ''}${n.toFixed(1)} MB/h`;
    log('');
    log(
      `posted ${posted} events (${failed} failed), receiver got ${result.delivered} requests for ${posted * SUBSCRIPTIONS} deliveries`,
    );
    log(
      `RSS slope, whole run:            api ${fmt(result.slopeMbPerHour.api.whole)}, worker ${fmt(result.slopeMbPerHour.worker.whole)}`,
    );
    log(
      `RSS slope, after ${WARM_UP_SHARE * 100}% warm-up:    api ${fmt(result.slopeMbPerHour.api.afterWarmUp)}, worker ${fmt(result.slopeMbPerHour.worker.afterWarmUp)}`,
    );
    const first = samples[0] as Sample;
    const last = samples[samples.length - 1] as Sample;
    log(
      `RSS first → last sample:         api ${first.apiRssMb.toFixed(1)} → ${last.apiRssMb.toFixed(1)} MB, worker ${first.workerRssMb.toFixed(1)} → ${last.workerRssMb.toFixed(1)} MB`,
    );
    if (process.env.SOAK_OUT) await writeFile(process.env.SOAK_OUT, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
