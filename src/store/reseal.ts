/**
 * Brings every stored secret under the key ring's current key: secrets stored in plain text
 * before they were sealed, and secrets sealed under an older key of the ring. Migrations are SQL
 * and cannot see the keys, so this runs in the service at start-up (see startService), after the
 * migrations, in batches; it is idempotent, and safe beside other processes doing the same and
 * beside rotations of the API (a value changed meanwhile is left for the next pass).
 */
import type { Db } from './db';
import { SealedSecretError, SECRET_OWNER, type KeyRing } from './secret-box';

/** The columns holding secrets, by table. */
interface SecretColumns {
  readonly table: string;
  readonly columns: readonly string[];
  /** The additional data of the row's sealed values (SECRET_OWNER). */
  readonly owner: (id: string) => string;
}

const SECRET_COLUMNS: readonly SecretColumns[] = [
  { table: 'subscriptions', columns: ['secret', 'previous_secret'], owner: SECRET_OWNER.subscription },
  // Served by the partial index of events with a callback secret (migration 010).
  { table: 'events', columns: ['callback_secret'], owner: SECRET_OWNER.event },
];

/** Rows whose unopenable secrets the report names at most (their ids; never a value). */
const UNREADABLE_SHOWN = 10;

export interface ResealOptions {
  /** Rows read and written per statement. @default 500 */
  readonly batchSize?: number;
  /** Stops the pass between two batches (the service's shutdown). @default never */
  readonly signal?: AbortSignal;
}

export interface ResealReport {
  /** Values sealed anew under the current key (plain text or an older key before). */
  readonly resealed: number;
  /** Rows with a secret that no key of the ring opens, named `subscription:<id>` or `event:<id>` (the first few). */
  readonly unreadable: readonly string[];
  readonly unreadableCount: number;
  /** False when the signal stopped the pass before its end. */
  readonly complete: boolean;
}

/** Seals, under the ring's current key, every stored secret not sealed under it yet. */
export async function resealSecrets(db: Db, keyRing: KeyRing, options: ResealOptions = {}): Promise<ResealReport> {
  const batchSize = options.batchSize ?? 500;
  let resealed = 0;
  const unreadable: string[] = [];
  let unreadableCount = 0;
  for (const spec of SECRET_COLUMNS) {
    let after = '';
    for (;;) {
      if (options.signal?.aborted) return { resealed, unreadable, unreadableCount, complete: false };
      const batch = await resealBatch(db, keyRing, spec, after, batchSize);
      resealed += batch.resealed;
      unreadableCount += batch.unreadable.length;
      unreadable.push(...batch.unreadable.slice(0, UNREADABLE_SHOWN - unreadable.length));
      if (batch.lastId === undefined) break;
      after = batch.lastId;
    }
  }
  return { resealed, unreadable, unreadableCount, complete: true };
}

/** One batch of rows after `after` (by id) with a secret not under the current key: read, sealed, written back. */
async function resealBatch(
  db: Db,
  keyRing: KeyRing,
  spec: SecretColumns,
  after: string,
  limit: number,
): Promise<{ resealed: number; unreadable: string[]; lastId: string | undefined }> {
  const { table, columns } = spec;
  const stale = columns.map((column) => `(${column} IS NOT NULL AND NOT starts_with(${column}, $2))`).join(' OR ');
  const rows = await db.query<Record<string, string | null> & { id: string }>(
    `SELECT id, ${columns.join(', ')} FROM ${table} WHERE id > $1 AND (${stale}) ORDER BY id LIMIT $3`,
    [after, keyRing.currentPrefix, limit],
  );
  let resealed = 0;
  const unreadable: string[] = [];
  const updates: Array<{ id: string; values: Array<{ old: string | null; next: string | null }> }> = [];
  for (const row of rows) {
    const owner = spec.owner(row.id);
    try {
      const values = columns.map((column) => {
        const old = row[column] ?? null;
        if (old === null || old.startsWith(keyRing.currentPrefix)) return { old, next: old };
        return { old, next: keyRing.seal(keyRing.open(old, owner), owner) };
      });
      resealed += values.filter((value) => value.next !== value.old).length;
      updates.push({ id: row.id, values });
    } catch (error) {
      if (!(error instanceof SealedSecretError)) throw error;
      unreadable.push(owner);
    }
  }
  if (updates.length > 0) await writeResealed(db, spec, updates);
  return { resealed, unreadable, lastId: rows.length < limit ? undefined : rows[rows.length - 1]?.id };
}

/**
 * Writes the new values in one statement, each only where the column still holds the value it
 * was read with: a secret rotated meanwhile is not put back.
 */
async function writeResealed(
  db: Db,
  { table, columns }: SecretColumns,
  updates: ReadonlyArray<{ id: string; values: ReadonlyArray<{ old: string | null; next: string | null }> }>,
): Promise<void> {
  const sets = columns.map(
    (column, i) =>
      `${column} = CASE WHEN t.${column} IS NOT DISTINCT FROM u.old${i} THEN u.next${i} ELSE t.${column} END`,
  );
  const names = columns.flatMap((_column, i) => [`old${i}`, `next${i}`]);
  const params: unknown[] = [updates.map((update) => update.id)];
  columns.forEach((_column, i) => {
    params.push(updates.map((update) => update.values[i]?.old ?? null));
    params.push(updates.map((update) => update.values[i]?.next ?? null));
  });
  await db.query(
    `UPDATE ${table} t SET ${sets.join(', ')}
     FROM unnest(${params.map((_param, n) => `$${n + 1}::text[]`).join(', ')}) AS u(id, ${names.join(', ')})
     WHERE t.id = u.id`,
    params,
  );
}
