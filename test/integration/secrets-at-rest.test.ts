/**
 * Secrets at rest: a store holding 100 subscriptions (some mid-rotation) and callback events,
 * dumped (every table as text on PGlite and PostgreSQL, PGlite's data directory byte for byte,
 * and pg_dump), holds none of their secrets; secrets stored before sealing are sealed at the next
 * start; a new key first in the ring reseals every secret while deliveries keep verifying, and the
 * old key can then go.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Webhook } from 'standardwebhooks';
import { newId } from '../../core/ids';
import { generateSecret } from '../../core/signing';
import type { Db } from '../../src/store/db';
import { migrate } from '../../src/store/migrations';
import { openPglite } from '../../src/store/pglite';
import { KeyRing, SECRET_OWNER } from '../../src/store/secret-box';
import { startHarness, type Harness } from '../helpers/harness';
import { createTestDatabase, describeWithPostgres, findPostgresBin, type TestDatabase } from '../helpers/postgres';
import { always, TestReceiver, type ReceivedRequest } from '../helpers/receiver';
import { FAST_RETRY } from '../helpers/retry-policies';
import { createTestTemporal } from '../helpers/temporal-env';
import { waitFor } from '../helpers/wait';

const execFileAsync = promisify(execFile);

const SUBSCRIPTIONS = 100;
const ROTATED = 10;
const CALLBACK_EVENTS = 10;

const KEY_A = KeyRing.generateKey('a');
const KEY_B = KeyRing.generateKey('b');

let env: TestWorkflowEnvironment;
let receiver: TestReceiver;

beforeAll(async () => {
  env = await createTestTemporal();
  receiver = await TestReceiver.start(always(204));
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await env?.teardown();
});

/** What a store was filled with: each subscription's current secret by receiver path, and every secret given out. */
interface Filled {
  readonly secretByPath: Map<string, string>;
  readonly subscriptionIds: string[];
  readonly secrets: string[];
}

/**
 * 100 subscriptions through the API (the last ROTATED rotated, so their old secret is kept for the
 * grace period) and CALLBACK_EVENTS events with a callback URL, whose callback deliveries verify.
 */
async function fill(h: Harness, tag: string): Promise<Filled> {
  const secretByPath = new Map<string, string>();
  const subscriptionIds: string[] = [];
  const secrets: string[] = [];
  expect((await h.call('POST', '/v1/event-types', { id: `${tag}.created` })).status).toBe(201);
  expect((await h.call('POST', '/v1/event-types', { id: `${tag}.callback` })).status).toBe(201);
  for (let i = 0; i < SUBSCRIPTIONS; i += 10) {
    const created = await Promise.all(
      Array.from({ length: 10 }, (_, j) =>
        h.call('POST', '/v1/subscriptions', {
          url: `${receiver.url}/${tag}/sub/${i + j}`,
          eventTypes: [`${tag}.created`],
          retryPolicy: FAST_RETRY,
        }),
      ),
    );
    for (const [j, res] of created.entries()) {
      expect(res.status).toBe(201);
      subscriptionIds.push(res.body.id);
      secrets.push(res.body.secret);
      secretByPath.set(`/${tag}/sub/${i + j}`, res.body.secret);
    }
  }
  for (let i = SUBSCRIPTIONS - ROTATED; i < SUBSCRIPTIONS; i += 1) {
    const rotated = await h.call('POST', `/v1/subscriptions/${subscriptionIds[i]}/secret/rotate`, {});
    expect(rotated.status).toBe(200);
    secrets.push(rotated.body.secret);
    secretByPath.set(`/${tag}/sub/${i}`, rotated.body.secret);
  }
  const before = receiver.requests.length;
  for (let i = 0; i < CALLBACK_EVENTS; i += 1) {
    const path = `/${tag}/callback/${i}`;
    const res = await h.call('POST', '/v1/events', {
      type: `${tag}.callback`,
      data: { i },
      callbackUrl: `${receiver.url}${path}`,
    });
    expect(res.status).toBe(202);
    secrets.push(res.body.callbackSecret);
    secretByPath.set(path, res.body.callbackSecret);
  }
  const arrived = (await receiver.waitForRequests(before + CALLBACK_EVENTS)).slice(before);
  expectVerified(arrived, secretByPath);
  return { secretByPath, subscriptionIds, secrets };
}

/** Every request carries a signature its receiver's secret verifies. */
function expectVerified(requests: readonly ReceivedRequest[], secretByPath: ReadonlyMap<string, string>): void {
  for (const request of requests) {
    // Paths are keyed below the receiver's own (its URL ends in /webhook).
    const secret = secretByPath.get(request.path.slice(new URL(receiver.url).pathname.length));
    expect(secret).toBeDefined();
    expect(() =>
      new Webhook(secret as string).verify(request.body, request.headers as Record<string, string>),
    ).not.toThrow();
  }
}

/** A dump of the store: every row of every table, as JSON text. */
async function dumpTables(db: Db): Promise<string> {
  const tables = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
  );
  const rows: string[] = [];
  for (const { table_name: table } of tables) {
    const dumped = await db.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${table}" t`);
    rows.push(...dumped.map((row) => row.row));
  }
  return rows.join('\n');
}

/** The secrets (whole, or their base64 without the `whsec_` prefix) that `dump` holds. */
function secretsIn(dump: string | Buffer, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => dump.includes(secret.slice('whsec_'.length)));
}

/** Every byte under `dir`, file by file. */
async function filesUnder(dir: string): Promise<Buffer[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(
    entries.filter((entry) => entry.isFile()).map((entry) => readFile(path.join(entry.parentPath, entry.name))),
  );
}

/** Stored secret values not sealed under `keyId`. */
async function notSealedUnder(db: Db, keyId: string): Promise<number> {
  const prefix = `enc:v1:${keyId}:`;
  const rows = await db.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM subscriptions WHERE NOT starts_with(secret, $1)
               OR (previous_secret IS NOT NULL AND NOT starts_with(previous_secret, $1)))
          + (SELECT count(*) FROM events WHERE callback_secret IS NOT NULL AND NOT starts_with(callback_secret, $1)) AS n`,
    [prefix],
  );
  return Number(rows[0]?.n);
}

describe('on PGlite', () => {
  let dir: string;
  let db: Db;
  let h: Harness | undefined;
  let filled: Filled;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-secrets-'));
    db = await openPglite(path.join(dir, 'store'));
    await migrate(db);
  });

  afterAll(async () => {
    await h?.close();
    await db?.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  const restart = async (keys: string): Promise<Harness> => {
    await h?.close();
    h = await startHarness({ env, db, keyRing: KeyRing.parse(keys) });
    return h;
  };

  test('a store with 100 subscriptions and callback events: a dump of every table holds none of their secrets', async () => {
    const service = await restart(KEY_A);
    filled = await fill(service, 'pglite');
    const dump = await dumpTables(db);
    expect(secretsIn(dump, filled.secrets)).toEqual([]);
    // They are there, sealed.
    expect(dump.match(/enc:v1:a:/g)?.length).toBe(SUBSCRIPTIONS + ROTATED + CALLBACK_EVENTS);
    // The API answers as before.
    const secret = await service.call('GET', `/v1/subscriptions/${filled.subscriptionIds[0]}/secret`);
    expect(secret.body).toEqual({ secret: filled.secrets[0] });
  }, 120_000);

  test('secrets stored before sealing are sealed at the next start, and their deliveries verify', async () => {
    const legacy = Array.from({ length: 5 }, () => ({ id: newId('sub'), secret: generateSecret() }));
    const legacyCallback = { id: newId('evt'), secret: generateSecret() };
    await db.query(`INSERT INTO event_types (id) VALUES ('legacy.created')`);
    for (const [i, row] of legacy.entries()) {
      await db.query(
        `INSERT INTO subscriptions (id, url, event_types, secret, retry_policy) VALUES ($1, $2, ARRAY['legacy.created'], $3, '{}')`,
        [row.id, `${receiver.url}/legacy/${i}`, row.secret],
      );
    }
    await db.query(
      `INSERT INTO events (id, type, data, callback_url, callback_secret, fingerprint, dispatched_at)
       VALUES ($1, 'legacy.created', '{}', 'https://example.com/cb', $2, 'x', now())`,
      [legacyCallback.id, legacyCallback.secret],
    );
    expect(await notSealedUnder(db, 'a')).toBe(legacy.length + 1);

    const service = await restart(KEY_A);
    await waitFor(async () => ((await notSealedUnder(db, 'a')) === 0 ? true : undefined), 'the legacy rows sealed');
    expect(
      secretsIn(
        await dumpTables(db),
        [...legacy, legacyCallback].map((row) => row.secret),
      ),
    ).toEqual([]);
    const stored = await db.query<{ callback_secret: string }>('SELECT callback_secret FROM events WHERE id = $1', [
      legacyCallback.id,
    ]);
    expect(KeyRing.parse(KEY_A).open(stored[0]?.callback_secret as string, SECRET_OWNER.event(legacyCallback.id))).toBe(
      legacyCallback.secret,
    );
    expect((await service.call('GET', `/v1/subscriptions/${legacy[0]?.id}/secret`)).body).toEqual({
      secret: legacy[0]?.secret,
    });

    const before = receiver.requests.length;
    expect((await service.call('POST', '/v1/events', { type: 'legacy.created', data: {} })).status).toBe(202);
    const arrived = (await receiver.waitForRequests(before + legacy.length)).slice(before);
    expectVerified(arrived, new Map(legacy.map((row, i) => [`/legacy/${i}`, row.secret])));
  }, 120_000);

  test('a new key first in the ring reseals every secret while deliveries keep verifying; then the old key can go', async () => {
    // The ring rolled: b seals, a still opens. A fan-out to all 100 goes out while the rows are resealed.
    let service = await restart(`${KEY_B},${KEY_A}`);
    let before = receiver.requests.length;
    expect((await service.call('POST', '/v1/events', { type: 'pglite.created', data: { n: 1 } })).status).toBe(202);
    expectVerified((await receiver.waitForRequests(before + SUBSCRIPTIONS, 60_000)).slice(before), filled.secretByPath);
    await waitFor(
      async () => ((await notSealedUnder(db, 'b')) === 0 ? true : undefined),
      'every secret resealed under b',
    );
    expect(await dumpTables(db)).not.toContain('enc:v1:a:');

    // The old key removed: everything still opens, and deliveries still verify.
    service = await restart(KEY_B);
    for (const [i, id] of filled.subscriptionIds.entries()) {
      const answer = await service.call('GET', `/v1/subscriptions/${id}/secret`);
      expect(answer.body.secret).toBe(filled.secretByPath.get(`/pglite/sub/${i}`));
    }
    before = receiver.requests.length;
    expect((await service.call('POST', '/v1/events', { type: 'pglite.created', data: { n: 2 } })).status).toBe(202);
    expectVerified((await receiver.waitForRequests(before + SUBSCRIPTIONS, 60_000)).slice(before), filled.secretByPath);
  }, 180_000);

  test("PGlite's data directory, byte for byte, holds none of the secrets given out through the API", async () => {
    await h?.close();
    h = undefined;
    await db.close();
    const files = await filesUnder(path.join(dir, 'store'));
    expect(files.length).toBeGreaterThan(0);
    expect(files.flatMap((file) => secretsIn(file, filled.secrets))).toEqual([]);
  }, 60_000);
});

describeWithPostgres('secrets-at-rest.test.ts')('on PostgreSQL', () => {
  let database: TestDatabase;
  let h: Harness;

  beforeAll(async () => {
    database = await createTestDatabase('secrets_at_rest');
    await migrate(database.db);
    h = await startHarness({ env, db: database.db, keyRing: KeyRing.parse(KEY_A) });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    await database?.drop();
  });

  test('pg_dump of a store with 100 subscriptions and callback events holds none of their secrets', async () => {
    const filled = await fill(h, 'postgres');
    const pgDump = path.join(findPostgresBin() as string, 'pg_dump');
    const { stdout } = await execFileAsync(pgDump, ['--dbname', database.url], { maxBuffer: 64 * 1024 * 1024 });
    expect(stdout).toContain('enc:v1:a:');
    expect(secretsIn(stdout, filled.secrets)).toEqual([]);
    expect(secretsIn(await dumpTables(database.db), filled.secrets)).toEqual([]);
  }, 120_000);
});
