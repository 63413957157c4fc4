import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Db, Queryable } from './db';
import { errorOf, type StoreCall, type StoreOpened, type StoreReply, type StoreThreadData } from './pglite-protocol';

/**
 * The rows with their dates made again in this realm. A structured clone builds its Dates in the
 * receiving thread's main realm, and code run in another (a vm context, as jest runs tests in)
 * has a Date of its own, which `instanceof Date` checks against.
 */
function withOwnDates(rows: unknown[]): unknown[] {
  for (const row of rows as Record<string, unknown>[]) {
    for (const [key, value] of Object.entries(row)) {
      if (typeof value === 'object' && value !== null && !(value instanceof Date) && isForeignDate(value)) {
        row[key] = new Date((value as Date).getTime());
      }
    }
  }
  return rows;
}

const isForeignDate = (value: object): boolean => Object.prototype.toString.call(value) === '[object Date]';

type Pending = { readonly resolve: (rows: unknown[]) => void; readonly reject: (error: unknown) => void };

/** Where the store's thread starts: its TypeScript source under tsx (npm start, tests), or the build's JavaScript. */
function threadEntry(): { readonly file: string; readonly execArgv: string[] } {
  const extension = path.extname(__filename);
  const file = path.join(__dirname, `pglite-thread${extension}`);
  return { file, execArgv: extension === '.ts' ? ['--require', require.resolve('tsx/cjs')] : [] };
}

/**
 * The embedded store: PostgreSQL compiled to WASM (PGlite), persisted in dir (in memory when dir
 * is undefined), running in a thread of its own (pglite-thread.ts). Statements are sent there
 * and answered in order. PGlite has one connection: while a transaction holds it, other
 * statements wait here until it ends, so none runs inside another's transaction.
 */
export async function openPglite(dir: string | undefined): Promise<Db> {
  const { file, execArgv } = threadEntry();
  const worker = new Worker(file, { workerData: { dir } satisfies StoreThreadData, execArgv });
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let gone: Error | undefined;

  await new Promise<void>((resolve, reject) => {
    worker.once('message', (opened: StoreOpened) => (opened.ready ? resolve() : reject(errorOf(opened.failure))));
    worker.once('error', reject);
  });
  worker.on('message', (reply: StoreReply) => {
    const waiting = pending.get(reply.id);
    pending.delete(reply.id);
    if ('failure' in reply) waiting?.reject(errorOf(reply.failure));
    else waiting?.resolve(withOwnDates(reply.rows));
  });
  const fail = (error: Error): void => {
    gone ??= error;
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the embedded store's thread exited (code ${code})`)));

  const send = (call: StoreCall): Promise<unknown[]> => {
    if (gone) return Promise.reject(gone);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...call, id });
    });
  };
  const direct: Queryable = {
    query: async <Row>(sql: string, params?: readonly unknown[]) =>
      (await send({ op: 'query', sql, ...(params ? { params } : {}) })) as Row[],
    exec: async (sql) => {
      await send({ op: 'exec', sql });
    },
  };

  /** Settles when no transaction holds the connection; undefined while none does. */
  let held: Promise<void> | undefined;
  const whenFree = async (): Promise<void> => {
    while (held) await held;
  };

  return {
    query: async (sql, params) => {
      await whenFree();
      return direct.query(sql, params);
    },
    exec: async (sql) => {
      await whenFree();
      return direct.exec(sql);
    },
    transaction: async (fn) => {
      await whenFree();
      let release: () => void = () => undefined;
      held = new Promise((resolve) => (release = resolve));
      try {
        await direct.exec('BEGIN');
        try {
          const result = await fn(direct);
          await direct.exec('COMMIT');
          return result;
        } catch (error) {
          await direct.exec('ROLLBACK').catch(() => undefined);
          throw error;
        }
      } finally {
        held = undefined;
        release();
      }
    },
    close: async () => {
      await whenFree();
      await send({ op: 'close' });
      await worker.terminate();
    },
  };
}
