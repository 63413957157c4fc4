/**
 * `tsx bench/store-ops.ts [--memory]` — what each store call on the delivery path costs, alone:
 * PGlite (on disk, as `npm start` uses it) with no Temporal and no HTTP. CPU time per call is
 * reported beside wall time, since CPU time is less disturbed by other work on the machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createStore } from '../src/store';
import { openPglite } from '../src/store/pglite';
import { migrate } from '../src/store/migrations';
import { DEFAULT_RETRY_POLICY } from '../core/retry-policy';
import { eventData } from './scenarios';
import { testKeyRing } from '../test/helpers/key-ring';

async function measure(name: string, n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1) await fn(i);
  const wall = (performance.now() - t0) / n;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `${name.padEnd(56)} ${wall.toFixed(3).padStart(9)} ms wall  ${((cpu.user + cpu.system) / 1000 / n).toFixed(3).padStart(9)} ms CPU  (n=${n})\n`,
  );
}

async function main(): Promise<void> {
  const inMemory = process.argv.includes('--memory');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-store-ops-'));
  const db = await openPglite(inMemory ? undefined : path.join(dir, 'store'));
  await migrate(db);
  const store = createStore(db, testKeyRing());
  process.stdout.write(
    `PGlite ${inMemory ? 'in memory' : 'on disk'}; load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(', ')}\n`,
  );
  for (const id of ['bench.steady', 'bench.fanout.1k', 'bench.fanout.10k'])
    await store.eventTypes.create({ id, description: '' });
  const subscription = {
    accountId: null,
    active: true,
    paused: false,
    throttleRate: null,
    description: '',
    headers: {},
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    retryPolicy: DEFAULT_RETRY_POLICY,
  };
  await store.subscriptions.create({ ...subscription, url: 'http://127.0.0.1:1/steady', eventTypes: ['bench.steady'] });
  for (let i = 0; i < 10_000; i += 1) {
    await store.subscriptions.create({
      ...subscription,
      url: `http://127.0.0.1:1/fanout/${i}`,
      eventTypes: i < 1_000 ? ['bench.fanout.1k', 'bench.fanout.10k'] : ['bench.fanout.10k'],
    });
  }
  const data = eventData('store-ops');
  const N = 500;
  const ingest = (id: string, type: string) =>
    store.events.ingest(
      { id, type, accountId: null, data, callbackUrl: null, callbackSecret: null, fingerprint: 'f' },
      30_000,
    );

  await measure('eventTypes.unknown (API, per event)', N, () => store.eventTypes.unknown(['bench.steady']));
  const deliveryIds: string[] = [];
  await measure('events.ingest, one at a time (API, per event)', N, async (i) => {
    const ingested = await ingest(`e-${i}`, 'bench.steady');
    deliveryIds.push(ingested.plans[0]?.deliveryId as string);
  });
  // 20 producers posting at once: their events are read for and written together.
  const TOGETHER = 20;
  await measure(`events.ingest, ${TOGETHER} at once (API, per event)`, N, async (i) => {
    if (i % TOGETHER !== 0) return;
    const batch = Array.from({ length: TOGETHER }, (_, k) => ingest(`t-${i + k}`, 'bench.steady'));
    for (const ingested of await Promise.all(batch)) deliveryIds.push(ingested.plans[0]?.deliveryId as string);
  });
  await measure('events.markDispatched (dispatcher, per event)', N, (i) => store.events.markDispatched([`e-${i}`]));
  await measure('deliveries.attemptContext, one at a time (per attempt)', N, (i) =>
    store.deliveries.attemptContext(deliveryIds[i] as string),
  );
  /** An attempt answered 200; `delivered` marks it so (such attempts are recorded together), else it is recorded alone. */
  const answered200 = (delivered: boolean) => ({
    startedAt: new Date(),
    durationMs: 1,
    statusCode: 200,
    error: null,
    responseBody: 'ok',
    url: 'http://127.0.0.1:1/steady',
    nextAttemptAt: null,
    delivered,
  });
  await measure('deliveries.recordAttempt, one at a time (per attempt)', N, (i) =>
    store.deliveries.recordAttempt(deliveryIds[i] as string, answered200(false)),
  );
  // A subscriber workflow's concurrent first attempts (32): their reads and 2xx records go together.
  const ATTEMPTS = 32;
  const together = (fn: (id: string) => Promise<unknown>) => async (i: number) => {
    if (i % ATTEMPTS !== 0) return;
    await Promise.all(deliveryIds.slice(N + i, N + i + ATTEMPTS).map(fn));
  };
  await measure(
    `deliveries.attemptContext, ${ATTEMPTS} at once (per attempt)`,
    N,
    together((id) => store.deliveries.attemptContext(id)),
  );
  await measure(
    `deliveries.recordAttempt 2xx, ${ATTEMPTS} at once (per attempt)`,
    N,
    together((id) => store.deliveries.recordAttempt(id, answered200(true))),
  );
  await measure('deliveries.setStatus (local activity, per delivery)', N, (i) =>
    store.deliveries.setStatus(deliveryIds[i] as string, 'succeeded'),
  );
  await measure('events.ingest, 1,000 subscribers', 3, (i) => ingest(`f1k-${i}`, 'bench.fanout.1k'));
  await measure('events.ingest, 10,000 subscribers', 3, (i) => ingest(`f10k-${i}`, 'bench.fanout.10k'));
  await db.close();
  await rm(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
