import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable } from './db';

/**
 * PostgreSQL's page cache inside the embedded store's WASM memory. PGlite's default (128 MB) is
 * filled by a few minutes of load and never given back; the operating system caches the data
 * files anyway, so a smaller one costs little CPU (docs/benchmarks.md, "Throughput mode").
 */
const SHARED_BUFFERS = '32MB';

/** The embedded store: PostgreSQL compiled to WASM, persisted in dir (in memory when dir is undefined). */
export async function openPglite(dir: string | undefined): Promise<Db> {
  if (dir) mkdirSync(dir, { recursive: true });
  const db = await PGlite.create({
    ...(dir ? { dataDir: dir } : {}),
    postgresqlconf: [`shared_buffers = ${SHARED_BUFFERS}`],
  });
  const query = async <Row>(target: Pick<PGlite, 'query'>, sql: string, params?: readonly unknown[]): Promise<Row[]> =>
    (await target.query<Row>(sql, params as unknown[] | undefined)).rows;
  return {
    query: (sql, params) => query(db, sql, params),
    exec: async (sql) => {
      await db.exec(sql);
    },
    transaction: (fn) =>
      db.transaction((tx) => {
        const wrapped: Queryable = {
          query: (sql, params) => query(tx, sql, params),
          exec: async (sql) => {
            await tx.exec(sql);
          },
        };
        return fn(wrapped);
      }),
    close: () => db.close(),
  };
}
