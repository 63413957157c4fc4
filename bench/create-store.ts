/**
 * Creates the service's store (PGlite's initdb, or a PostgreSQL database's tables) and exits: run
 * by env.ts in a short-lived child process, so that the ~600 MB PGlite's initdb leaves behind stay
 * out of both the service's memory and the benchmark's own, which the burst measures.
 *
 *   create-store.ts PGLITE_DIR | postgres://…
 */
import { migrate } from '../src/store/migrations';
import { openPglite } from '../src/store/pglite';
import { openPostgres } from '../src/store/pg';

async function main(): Promise<void> {
  const target = process.argv[2];
  if (!target) throw new Error('usage: create-store.ts PGLITE_DIR | postgres://…');
  const store = /^postgres(ql)?:\/\//.test(target) ? await openPostgres(target) : await openPglite(target);
  try {
    await migrate(store);
  } finally {
    await store.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`creating the store failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
