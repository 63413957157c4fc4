import { openPostgres } from './pg';
import { openPglite } from './pglite';

/** The SQL surface both backends (PostgreSQL through `pg`, PGlite in-process) implement. */
export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  /** Runs fn in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Opens the store named by the configuration: PostgreSQL when a URL is given, else PGlite in dataDir. */
export async function openDb(options: { databaseUrl: string | undefined; pgliteDir: string | undefined }): Promise<Db> {
  if (options.databaseUrl) {
    return openPostgres(options.databaseUrl);
  }
  return openPglite(options.pgliteDir);
}
