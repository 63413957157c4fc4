/** The messages between the embedded store's thread (pglite-thread.ts) and the process that uses it (pglite.ts). */

/** What the thread is asked: one statement, a script, or to close the database. */
export type StoreCall =
  | { readonly op: 'query'; readonly sql: string; readonly params?: readonly unknown[] }
  | { readonly op: 'exec'; readonly sql: string }
  | { readonly op: 'close' };

/** A call, numbered so that its reply finds it. */
export type StoreRequest = StoreCall & { readonly id: number };

/** A database error as data: its message and its fields (`code`, `constraint`, `detail`…), which callers read. */
export interface StoreFailure {
  readonly message: string;
  readonly fields: Readonly<Record<string, string | number>>;
}

export type StoreReply =
  { readonly id: number; readonly rows: unknown[] } | { readonly id: number; readonly failure: StoreFailure };

/** How the thread says it has opened the database, or why it could not. */
export type StoreOpened = { readonly ready: true } | { readonly ready: false; readonly failure: StoreFailure };

export interface StoreThreadData {
  /** The data directory; undefined: in memory. */
  readonly dir: string | undefined;
}

/** An error's message and scalar fields, to cross to the other thread. */
export function failureOf(error: unknown): StoreFailure {
  if (!(error instanceof Error)) return { message: String(error), fields: {} };
  const fields: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(error)) {
    if (typeof value === 'string' || typeof value === 'number') fields[key] = value;
  }
  return { message: error.message, fields };
}

/** The error again, on this side: the same message and fields. */
export function errorOf(failure: StoreFailure): Error {
  return Object.assign(new Error(failure.message), failure.fields);
}
