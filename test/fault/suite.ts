/**
 * The fault suite, defined once and run in each delivery mode (faults.test.ts): real API and worker processes in split mode against a real Temporal dev server
 * and a real PostgreSQL, a counting receiver on loopback, and one fault per scenario. Every
 * scenario counts what the receiver processed by (webhook-id, subscription), fails on any lost
 * delivery or unexplained duplicate, and adds a row to the table printed at the end.
 *
 * Counts are scaled for CI (two shared cores): FAULT_SCALE=10 runs scenario 1 at 1,000 events.
 * FAULT_SEED replays a run's random moments; FAULT_KEEP_LOGS=1 keeps every process's log;
 * FAULT_TABLE_FILE=path also writes the table there.
 */
import { writeFileSync } from 'node:fs';
import type { DeliveryMode } from '../../core/model';
import { deliveryWorkflowId } from '../../core/workflow-ids';
import { findPostgresBin } from '../helpers/postgres';
import { startCluster, type Cluster } from './support/cluster';
import { Deployment, EVENT_TYPE, type DeploymentOptions } from './support/deployment';
import { renderTable, type TableRow } from './support/ledger';
import { emptyResult, publish, type EventSpec, type PublishResult } from './support/publisher';
import { seededRandom, sleep, until } from './support/random';
import { CountingReceiver, type Receipt } from './support/receiver';
import { owed, verify, type Verdict } from './support/verify';

const SCALE = Number(process.env.FAULT_SCALE ?? 1);
const SEED = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const rand = seededRandom(SEED);
const scaled = (n: number): number => Math.max(1, Math.round(n * SCALE));

/**
 * Defines the suite's scenarios in a describe block of their own (a cluster of its own, one mode
 * after the other in one file: two clusters at once would share two cores), every process
 * running with WEBHOOKS_DELIVERY_MODE=`mode`.
 */
export function defineFaultSuite(mode: DeliveryMode): void {
  describe(mode, () => {
    let cluster: Cluster;
    let receiver: CountingReceiver;
    const rows: TableRow[] = [];

    jest.setTimeout(600_000);

    /** The suite needs a PostgreSQL server of its own; global-setup.ts already fails CI without one. */
    const havePostgres = findPostgresBin() !== undefined;
    const scenarioTest = havePostgres ? test : test.skip;

    beforeAll(async () => {
      if (!havePostgres) return;
      cluster = await startCluster();
      receiver = await CountingReceiver.start();
    }, 120_000);

    afterAll(async () => {
      if (!havePostgres) return;
      const table = renderTable(rows);
      process.stdout.write(`\nFault suite, ${mode} (seed ${SEED}, scale ${SCALE}):\n\n${table}\n\n`);
      if (process.env.FAULT_TABLE_FILE) writeFileSync(process.env.FAULT_TABLE_FILE, `${table}\n`);
      await receiver?.close();
      await cluster?.close();
    }, 120_000);

    function events(prefix: string, count: number): EventSpec[] {
      return Array.from({ length: count }, (_, i) => ({
        id: `${prefix}-evt-${String(i).padStart(5, '0')}`,
        type: EVENT_TYPE,
        data: { n: i },
      }));
    }

    /** Distinct (webhook-id, subscription) pairs the receiver has processed so far. */
    function processed(): number {
      return receiver.acceptedByKey().size;
    }

    /** Requests the receiver holds open right now. */
    function openRequests(): Receipt[] {
      return receiver.receipts.filter((r) => r.endedAt === undefined);
    }

    const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

    /** Runs a scenario on a fresh deployment and records its row, failing on any broken promise. */
    async function scenario(
      name: string,
      options: Omit<DeploymentOptions, 'name' | 'cluster'>,
      body: (d: Deployment) => Promise<Verdict>,
    ): Promise<void> {
      const startedAt = Date.now();
      receiver.reset();
      const deployment = await Deployment.start({
        name,
        cluster,
        ...options,
        env: { WEBHOOKS_DELIVERY_MODE: mode, ...options.env },
      });
      try {
        const verdict = await body(deployment);
        rows.push({ ...verdict.row, seconds: Math.round((Date.now() - startedAt) / 1000) });
        for (const d of verdict.tally.duplicates)
          process.stdout.write(`[${name}] ${d.key} processed ${d.times}×: ${d.explanation}\n`);
        if (verdict.problems.length > 0) {
          const logs = deployment.started
            .map((p) => `--- ${p.name} (${p.running ? 'running' : 'exited'})\n${p.recentOutput(15)}`)
            .join('\n');
          throw new Error(`${name}: ${verdict.problems.join('; ')}\n${logs}`);
        }
      } catch (error) {
        if (!rows.some((row) => row.fault.startsWith(`${name} `))) {
          rows.push({
            fault: `${name} (did not finish)`,
            expected: 0,
            delivered: 0,
            lost: 0,
            duplicated: 0,
            seconds: Math.round((Date.now() - startedAt) / 1000),
            notes: String(error).split('\n')[0] ?? '',
          });
        }
        throw error;
      } finally {
        await deployment.stop();
      }
    }

    function verifyScenario(
      d: Deployment,
      fault: string,
      published: PublishResult,
      subscriptions: readonly string[],
      notes: string[],
      settleTimeoutMs = 240_000,
    ): Promise<Verdict> {
      return verify({
        fault,
        deployment: d,
        receiver,
        client: cluster.client,
        expected: owed(published.acknowledged, subscriptions),
        settleTimeoutMs,
        notes,
      });
    }

    /** Every 202 must report one delivery per subscription: no event is half-written. */
    function expectWholeEvents(published: PublishResult, subscriptions: number): void {
      const partial = [...published.deliveryCounts].filter(([, n]) => n !== subscriptions);
      expect(partial).toEqual([]);
    }

    /**
     * Five subscriptions and 100 events (scaled) published at 10/s in the background; resolves
     * once 30% are acknowledged and deliveries have begun, the moment the outage scenarios strike.
     */
    async function publishUntilThirty(
      d: Deployment,
      name: string,
    ): Promise<{ subscriptions: string[]; list: EventSpec[]; publishing: Promise<PublishResult> }> {
      const subscriptions = await d.subscribe(receiver, 5);
      const list = events(name, scaled(100));
      const progress = emptyResult();
      const publishing = publish(
        list,
        { apis: () => d.apiUrls(), apiKey: d.apiKey, ratePerSecond: 10, concurrency: 8, deadlineMs: 240_000 },
        progress,
      );
      await until(
        () => progress.acknowledged.size >= list.length * 0.3 && processed() > 0,
        '30% acknowledged',
        120_000,
        20,
      );
      return { subscriptions, list, publishing };
    }

    scenarioTest('1. worker SIGKILLed at random moments three times and restarted', async () => {
      await scenario('s1', { apis: 1, workers: 1 }, async (d) => {
        const subscriptions = await d.subscribe(receiver, 10);
        // Answers take up to 300 ms, so that a kill finds attempts in flight.
        for (const name of subscriptions)
          receiver.behave(name, () => ({ kind: 'accept', delayMs: Math.floor(rand() * 300) }));
        const list = events('s1', scaled(100));
        const total = list.length * subscriptions.length;
        const publishing = publish(list, { apis: () => d.apiUrls(), apiKey: d.apiKey });

        const kills: string[] = [];
        let cut = 0;
        for (const [i, low] of [0.1, 0.35, 0.6].entries()) {
          const at = low + rand() * 0.15;
          await until(() => processed() >= at * total, `${Math.round(at * 100)}% delivered`, 240_000);
          await sleep(rand() * 500);
          cut += openRequests().length;
          const killedAt = Date.now();
          kills.push(`${Math.round((processed() / total) * 100)}%`);
          await d.workers[0]?.kill('SIGKILL');
          await d.startWorker(0);
          d.mark(`worker SIGKILL #${i + 1}`, killedAt);
        }
        const published = await publishing;
        expectWholeEvents(published, subscriptions.length);
        return verifyScenario(d, '1. worker SIGKILLed 3× at random moments, restarted', published, subscriptions, [
          `${list.length} events × ${subscriptions.length} subscriptions; kills at ${kills.join(', ')} delivered, ${cut} requests open at the receiver`,
        ]);
      });
    });

    scenarioTest('2. API SIGKILLed mid-ingestion while clients retry with the same event ids', async () => {
      await scenario('s2', { apis: 1, workers: 1 }, async (d) => {
        const subscriptions = await d.subscribe(receiver, 5);
        const list = events('s2', scaled(100));
        const progress = emptyResult();
        const publishing = publish(
          list,
          { apis: () => [d.apiUrl(0)], apiKey: d.apiKey, ratePerSecond: 25, concurrency: 8, deadlineMs: 240_000 },
          progress,
        );
        const kills: string[] = [];
        for (const [i, low] of [0.2, 0.55].entries()) {
          const at = low + rand() * 0.15;
          await until(
            () => progress.acknowledged.size >= at * list.length,
            `${Math.round(at * 100)}% acknowledged`,
            120_000,
            20,
          );
          kills.push(`${progress.acknowledged.size}/${list.length}`);
          const killedAt = Date.now();
          await d.apis[0]?.kill('SIGKILL');
          await d.startApi(0);
          d.mark(`API SIGKILL #${i + 1}`, killedAt, { cutsAttempts: false });
        }
        const published = await publishing;
        expect(published.unacknowledged).toEqual([]);
        expectWholeEvents(published, subscriptions.length);
        const cutRequests = published.answers.get('network') ?? 0;
        const verdict = await verifyScenario(
          d,
          '2. API SIGKILLed 2× mid-ingestion, clients retry same ids',
          published,
          subscriptions,
          [
            `${list.length} events × ${subscriptions.length}; kills after ${kills.join(' and ')} acknowledged; ${cutRequests} requests failed and were retried with the same id`,
          ],
        );
        // No extra deliveries: retries of an event that was already stored create nothing new.
        expect(verdict.tally.duplicated).toBe(0);
        return verdict;
      });
    });

    scenarioTest('3. Temporal dev server stopped and restarted on its database mid-flight', async () => {
      await scenario('s3', { apis: 1, workers: 1 }, async (d) => {
        const { subscriptions, list, publishing } = await publishUntilThirty(d, 's3');
        const stoppedAt = Date.now();
        await cluster.stopTemporal();
        await sleep(5_000);
        await cluster.startTemporal();
        const backAt = Date.now();
        d.mark('Temporal down', stoppedAt);
        const published = await publishing;
        expect(published.unacknowledged).toEqual([]);
        expectWholeEvents(published, subscriptions.length);

        // Events the API accepted while Temporal was down, and how soon things moved once it was back.
        const whileDown = [...published.acknowledgedAt]
          .filter(([, at]) => at >= stoppedAt && at <= backAt)
          .map(([id]) => id);
        expect(whileDown.length).toBeGreaterThan(0);
        const keys = owed(whileDown, subscriptions);
        await until(
          () => [...keys].every((key) => receiver.acceptedByKey().has(key)),
          'deliveries of events accepted while Temporal was down',
          180_000,
        );
        const resumedMs = Math.min(...receiver.receipts.filter((r) => r.at >= backAt).map((r) => r.at)) - backAt;
        const subscriptionId = d.subscriptions.get(subscriptions[0] as string) as string;
        // When each event accepted while down was handed to Temporal: its delivery workflow's start,
        // or in throughput mode (no workflow of its own once delivered) its first receipt.
        const firstReceipt = (id: string): number =>
          Math.min(...receiver.receipts.filter((r) => r.webhookId === id).map((r) => r.at));
        const started = await Promise.all(
          whileDown.map(async (id) =>
            mode === 'per-subscriber'
              ? firstReceipt(id) - backAt
              : (
                  await cluster.client.workflow.getHandle(deliveryWorkflowId(id, subscriptionId)).describe()
                ).startTime.getTime() - backAt,
          ),
        );
        const dispatchedMs = Math.max(...started);
        const verdict = await verifyScenario(
          d,
          '3. Temporal stopped and restarted on its database',
          published,
          subscriptions,
          [
            `${list.length} events × ${subscriptions.length}; down ${seconds(backAt - stoppedAt)}; ${whileDown.length} events accepted (202) while down; deliveries resumed ${seconds(resumedMs)} after Temporal was back, and the workflows of every event accepted while down were started within ${seconds(dispatchedMs)}`,
          ],
        );
        // Within seconds; the bound is loose because CI shares two cores with the other suites.
        if (resumedMs > 30_000)
          verdict.problems.push(`deliveries resumed only ${seconds(resumedMs)} after Temporal was back`);
        if (dispatchedMs > 30_000)
          verdict.problems.push(
            `events accepted while Temporal was down waited up to ${seconds(dispatchedMs)} for their workflows`,
          );
        return verdict;
      });
    });

    scenarioTest('4. PostgreSQL restarted mid-flight in split mode', async () => {
      await scenario('s4', { apis: 1, workers: 1 }, async (d) => {
        const { subscriptions, list, publishing } = await publishUntilThirty(d, 's4');

        const haltedAt = Date.now();
        await cluster.postgres.halt();
        // While it is down: /healthz and POST /v1/events answer 503 with Retry-After.
        const health = await fetch(`${d.apiUrl(0)}/healthz`);
        const probe = await fetch(`${d.apiUrl(0)}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${d.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id: 's4-probe', type: EVENT_TYPE, data: {} }),
        });
        await sleep(4_000);
        await cluster.postgres.restart();
        d.mark('PostgreSQL down', haltedAt);
        expect(health.status).toBe(503);
        expect(probe.status).toBe(503);
        expect(probe.headers.get('retry-after')).toMatch(/^\d+$/);
        await until(
          async () => (await fetch(`${d.apiUrl(0)}/healthz`)).status === 200,
          '/healthz to recover',
          30_000,
          250,
        );
        const recoveredMs = Date.now() - haltedAt;

        const published = await publishing;
        expect(published.unacknowledged).toEqual([]);
        expectWholeEvents(published, subscriptions.length);
        // Nothing half-written: every stored event has all its deliveries, and the refused probe left nothing.
        const { rows: partial } = await d
          .db()
          .query<{ id: string; n: number }>(
            `SELECT e.id, count(d.id)::int AS n FROM events e LEFT JOIN deliveries d ON d.event_id = e.id GROUP BY e.id HAVING count(d.id) <> $1`,
            [subscriptions.length],
          );
        expect(partial).toEqual([]);
        const { rows: probeRows } = await d.db().query(`SELECT id FROM events WHERE id = 's4-probe'`);
        expect(probeRows).toEqual([]);
        const refused = published.answers.get('503') ?? 0;
        return verifyScenario(d, '4. PostgreSQL restarted (split mode)', published, subscriptions, [
          `${list.length} events × ${subscriptions.length}; down ${seconds(recoveredMs)} until /healthz was 200 again; ${refused + 1} POSTs answered 503 with Retry-After ${[...published.retryAfter, probe.headers.get('retry-after')].filter((v, i, a) => a.indexOf(v) === i).join('/')} s, /healthz 503; no event stored without all its deliveries`,
        ]);
      });
    });

    scenarioTest(
      '5. receivers that flap, answer slowly, reset connections, or answer 2xx after the timeout',
      async () => {
        const attemptTimeoutMs = 1_000;
        await scenario('s5', { apis: 1, workers: 1, attemptTimeoutMs }, async (d) => {
          const [flapping, slow, resetting, late] = (await d.subscribe(receiver, 4)) as [
            string,
            string,
            string,
            string,
          ];
          const t0 = Date.now();
          // Down (503) and up in turns of 1.5 s.
          receiver.behave(flapping, (r) =>
            Math.floor((r.at - t0) / 1_500) % 2 === 0 ? { kind: 'status', status: 503 } : { kind: 'accept' },
          );
          // Overloaded on the first two tries: answers 503 only after 2.5 s, past the 1 s timeout.
          receiver.behave(slow, (r) =>
            r.previous < 2 ? { kind: 'status', status: 503, delayMs: 2_500 } : { kind: 'accept' },
          );
          // Drops the connection without answering, half the time on the first two tries.
          receiver.behave(resetting, (r) => (r.previous < 2 && rand() < 0.5 ? { kind: 'reset' } : { kind: 'accept' }));
          // Processes the first try but answers 2xx 1.8 s later, after the sender gave up: the retry is a duplicate.
          receiver.behave(late, (r) => (r.previous === 0 ? { kind: 'accept', delayMs: 1_800 } : { kind: 'accept' }));
          const subscriptions = [flapping, slow, resetting, late];
          const list = events('s5', scaled(30));
          const published = await publish(list, { apis: () => d.apiUrls(), apiKey: d.apiKey });
          const verdict = await verifyScenario(
            d,
            '5. receivers flap / answer slowly / reset / 2xx after the timeout',
            published,
            subscriptions,
            [`${list.length} events × 4 receivers, attempt timeout ${attemptTimeoutMs} ms`],
          );
          const count = (action: Receipt['action'], sub: string): number =>
            receiver.receipts.filter((r) => r.subscription === sub && r.action === action).length;
          expect(count('status', flapping)).toBeGreaterThan(0);
          expect(count('status', slow)).toBe(2 * list.length);
          expect(count('reset', resetting)).toBeGreaterThan(0);
          const failed = `${count('status', flapping)} 503s from the flapping one, ${count('status', slow)} slow 503s, ${count('reset', resetting)} resets`;
          // Only the late receiver sees duplicates, and each is the retry after its late 2xx.
          expect(verdict.tally.duplicates.every((dup) => dup.key.endsWith(`|${late}`))).toBe(true);
          return { ...verdict, row: { ...verdict.row, notes: verdict.row.notes.replace('ms;', `ms; ${failed};`) } };
        });
      },
    );

    scenarioTest('6. the same event id posted 10 times concurrently', async () => {
      await scenario('s6', { apis: 2, workers: 1 }, async (d) => {
        const subscriptions = await d.subscribe(receiver, 3);
        const list = events('s6', scaled(20));
        const answers = await Promise.all(
          list.flatMap((event) =>
            Array.from({ length: 10 }, async (_, i) => {
              // Half send the id in the body, half as Idempotency-Key; the two APIs share the work.
              const { id, ...rest } = event;
              const response = await fetch(`${d.apiUrl(i % 2)}/v1/events`, {
                method: 'POST',
                headers: {
                  authorization: `Bearer ${d.apiKey}`,
                  'content-type': 'application/json',
                  ...(i % 4 < 2 ? {} : { 'idempotency-key': id }),
                },
                body: JSON.stringify(i % 4 < 2 ? event : rest),
              });
              return {
                id,
                status: response.status,
                body: (await response.json()) as { id: string; createdAt: string; deliveryCount: number },
              };
            }),
          ),
        );
        expect(answers.filter((a) => a.status !== 202)).toEqual([]);
        for (const event of list) {
          const bodies = answers
            .filter((a) => a.id === event.id)
            .map((a) => JSON.stringify({ ...a.body, callbackSecret: undefined }));
          expect(new Set(bodies).size).toBe(1);
        }
        const published = emptyResult();
        for (const a of answers) {
          published.acknowledged.add(a.id);
          published.deliveryCounts.set(a.id, a.body.deliveryCount);
        }
        expectWholeEvents(published, subscriptions.length);
        const { rows: stored } = await d.db().query<{ n: number }>('SELECT count(*)::int AS n FROM deliveries');
        expect(stored[0]?.n).toBe(list.length * subscriptions.length);
        const verdict = await verifyScenario(d, '6. same event id posted 10× concurrently', published, subscriptions, [
          `${list.length} ids × 10 concurrent POSTs over 2 API processes (body id and Idempotency-Key): ${answers.length} × 202, identical answers per id, ${stored[0]?.n} delivery rows`,
        ]);
        expect(verdict.tally.duplicated).toBe(0);
        return verdict;
      });
    });

    scenarioTest('7. split mode: 2 API processes and 2 workers share the load', async () => {
      await scenario('s7', { apis: 2, workers: 2 }, async (d) => {
        const subscriptions = await d.subscribe(receiver, 5);
        for (const name of subscriptions)
          receiver.behave(name, () => ({ kind: 'accept', delayMs: Math.floor(rand() * 100) }));
        const list = events('s7', scaled(120));
        const published = await publish(list, { apis: () => d.apiUrls(), apiKey: d.apiKey });
        expectWholeEvents(published, subscriptions.length);
        const verdict = await verifyScenario(d, '7. split mode: 2 APIs + 2 workers', published, subscriptions, []);
        const perApi = d.apiUrls().map((url) => published.acknowledgedBy.get(url) ?? 0);
        const perWorker = d.workers.map((w) => w?.attempts ?? 0);
        const attempts = perWorker.reduce((a, b) => a + b, 0);
        for (const n of perApi) expect(n).toBeGreaterThanOrEqual(list.length * 0.25);
        for (const n of perWorker) expect(n).toBeGreaterThanOrEqual(attempts * 0.15);
        return {
          ...verdict,
          row: {
            ...verdict.row,
            notes: [
              `${list.length} events × ${subscriptions.length}; events per API ${perApi.join('/')}, attempts per worker ${perWorker.join('/')}`,
              verdict.row.notes,
            ]
              .filter(Boolean)
              .join('; '),
          },
        };
      });
    });

    scenarioTest('8. SIGTERM lets the attempts in flight finish before the worker exits', async () => {
      await scenario('s8', { apis: 1, workers: 1, attemptTimeoutMs: 5_000 }, async (d) => {
        const subscriptions = await d.subscribe(receiver, 3);
        // Every answer takes 2 s: well within the 5 s attempt timeout, long enough to be caught in flight.
        for (const name of subscriptions) receiver.behave(name, () => ({ kind: 'accept', delayMs: 2_000 }));
        const list = events('s8', scaled(20));
        const published = await publish(list, { apis: () => d.apiUrls(), apiKey: d.apiKey });
        await until(() => openRequests().length >= 10, 'attempts in flight', 120_000, 20);
        const inFlight = openRequests();
        const termAt = Date.now();
        const exit = await d.workers[0]!.kill('SIGTERM', 60_000);
        const exitMs = exit.at - termAt;
        expect(exit.signal).toBeNull();
        expect(exit.code).toBe(0);
        // Each attempt caught in flight was answered, not cut.
        expect(inFlight.filter((r) => r.answered !== true)).toEqual([]);
        await d.startWorker(0);
        const verdict = await verifyScenario(d, '8. worker SIGTERM with attempts in flight', published, subscriptions, [
          `${list.length} events × ${subscriptions.length}, answers take 2 s; SIGTERM with ${inFlight.length} attempts in flight: all ${inFlight.length} finished, worker exited ${seconds(exitMs)} later, the rest delivered after a restart`,
        ]);
        expect(verdict.tally.duplicated).toBe(0);
        return verdict;
      });
    });
  });
}
