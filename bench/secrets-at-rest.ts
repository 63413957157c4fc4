/**
 * `tsx bench/secrets-at-rest.ts [--rows N]` — what sealing secrets at rest costs: opening one
 * sealed secret (each attempt opens one or two), and the resealing pass at start-up
 * (src/store/reseal.ts) on a PGlite store on disk holding N subscriptions and N events with a
 * callback secret (default 10,000 each): stored in plain text (the first start after upgrading),
 * under an older key (a rolled ring), and with nothing to do (every later start).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateSecret } from '../core/signing';
import { migrate } from '../src/store/migrations';
import { openPglite } from '../src/store/pglite';
import { resealSecrets } from '../src/store/reseal';
import { KeyRing, SECRET_OWNER } from '../src/store/secret-box';

const ROWS_FLAG = process.argv.indexOf('--rows');
const ROWS = ROWS_FLAG === -1 ? 10_000 : Number(process.argv[ROWS_FLAG + 1]);
const OPENS = 100_000;

/** Wall and CPU time of `fn`, ms. */
async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; wallMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const cpu = process.cpuUsage(cpu0);
  return { result, wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function main(): Promise<void> {
  const k1 = KeyRing.generateKey('k1');
  const ring = KeyRing.parse(k1);
  const owner = SECRET_OWNER.subscription('sub_bench');
  const sealed = ring.seal(generateSecret(), owner);
  const opening = await timed(async () => {
    for (let i = 0; i < OPENS; i += 1) ring.open(sealed, owner);
  });
  process.stdout.write(`open one sealed secret: ${((opening.cpuMs * 1000) / OPENS).toFixed(2)} µs CPU (n=${OPENS})\n`);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-secrets-bench-'));
  const db = await openPglite(path.join(dir, 'store'));
  try {
    await migrate(db);
    // Rows as a version before sealing stored them: plain-text secrets, written in one statement each.
    await db.query(
      `INSERT INTO subscriptions (id, url, event_types, secret, retry_policy)
       SELECT 'sub_' || lpad(n::text, 8, '0'), 'https://example.com/' || n, ARRAY['bench'], $1 || n, '{}'
       FROM generate_series(1, $2) AS n`,
      [generateSecret(), ROWS],
    );
    await db.query(
      `INSERT INTO events (id, type, data, callback_url, callback_secret, fingerprint, dispatched_at)
       SELECT 'evt_' || lpad(n::text, 8, '0'), 'bench', '{}', 'https://example.com/cb', $1 || n, 'f', now()
       FROM generate_series(1, $2) AS n`,
      [generateSecret(), ROWS],
    );
    const rolled = KeyRing.parse(`${KeyRing.generateKey('k2')},${k1}`);
    const passes: Array<[string, KeyRing]> = [
      ['plain text → k1 (first start after upgrading)', ring],
      ['k1 → k2 (the ring rolled)', rolled],
      ['nothing to do (every later start)', rolled],
    ];
    for (const [name, keys] of passes) {
      const pass = await timed(() => resealSecrets(db, keys));
      const rate = pass.result.resealed / (pass.wallMs / 1000);
      process.stdout.write(
        `reseal, ${name}: ${pass.result.resealed} values in ${pass.wallMs.toFixed(0)} ms wall, ${pass.cpuMs.toFixed(0)} ms CPU` +
          `${pass.result.resealed > 0 ? ` (${rate.toFixed(0)} values/s)` : ''}\n`,
      );
    }
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

void main();
