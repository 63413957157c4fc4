/**
 * The embedded store's thread: it opens PGlite and runs the statements it is sent, in order, so
 * that PostgreSQL's work (half of the service's CPU under load) runs beside the API and the
 * worker instead of on their thread. See pglite.ts.
 */
import { mkdirSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import {
  failureOf,
  type StoreOpened,
  type StoreReply,
  type StoreRequest,
  type StoreThreadData,
} from './pglite-protocol';

/**
 * PostgreSQL's page cache inside the embedded store's WASM memory. PGlite's default (128 MB) is
 * filled by a few minutes of load and never given back; the operating system caches the data
 * files anyway, so a smaller one costs little CPU (docs/benchmarks.md, "Throughput mode").
 */
const SHARED_BUFFERS = '32MB';

async function serve(port: NonNullable<typeof parentPort>, { dir }: StoreThreadData): Promise<void> {
  let db: PGlite;
  try {
    if (dir) mkdirSync(dir, { recursive: true });
    db = await PGlite.create({
      ...(dir ? { dataDir: dir } : {}),
      postgresqlconf: [`shared_buffers = ${SHARED_BUFFERS}`],
    });
  } catch (error) {
    port.postMessage({ ready: false, failure: failureOf(error) } satisfies StoreOpened);
    return;
  }
  port.on('message', (request: StoreRequest) => {
    // PGlite runs one statement at a time, in the order they were asked.
    void answer(db, request).then((reply) => port.postMessage(reply));
  });
  port.postMessage({ ready: true } satisfies StoreOpened);
}

async function answer(db: PGlite, request: StoreRequest): Promise<StoreReply> {
  try {
    switch (request.op) {
      case 'query':
        return { id: request.id, rows: (await db.query(request.sql, request.params as unknown[] | undefined)).rows };
      case 'exec':
        await db.exec(request.sql);
        return { id: request.id, rows: [] };
      case 'close':
        await db.close();
        return { id: request.id, rows: [] };
    }
  } catch (error) {
    return { id: request.id, failure: failureOf(error) };
  }
}

if (parentPort) void serve(parentPort, workerData as StoreThreadData);
