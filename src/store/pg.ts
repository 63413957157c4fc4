import pg from 'pg';
import type { Db, Queryable } from './db';
import { isConnectionError, StoreUnavailableError } from './unavailable';

/**
 * Size of the connection pool of one process.
 * @default 10
 */
const POOL_SIZE = 10;

async function run<Row>(client: pg.Pool | pg.PoolClient, sql: string, params?: readonly unknown[]): Promise<Row[]> {
  try {
    const result = await client.query(sql, params as unknown[] | undefined);
    return result.rows as Row[];
  } catch (error) {
    if (isConnectionError(error)) throw new StoreUnavailableError(error);
    throw error;
  }
}

export async function openPostgres(url: string): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, connectionTimeoutMillis: 5_000 });
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  return {
    query: (sql, params) => run(pool, sql, params),
    exec: async (sql) => {
      await run(pool, sql);
    },
    async transaction(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw new StoreUnavailableError(error);
      }
      // A checked-out client whose server goes away emits 'error'; unheard, it would crash the
      // process. The query in progress fails on its own, and the broken client is not reused.
      let broken = false;
      const onError = (): void => {
        broken = true;
      };
      client.on('error', onError);
      const tx: Queryable = {
        query: (sql, params) => run(client, sql, params),
        exec: async (sql) => {
          await run(client, sql);
        },
      };
      try {
        await tx.query('BEGIN');
        const result = await fn(tx);
        await tx.query('COMMIT');
        return result;
      } catch (error) {
        if (error instanceof StoreUnavailableError) broken = true;
        if (!broken) await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}
