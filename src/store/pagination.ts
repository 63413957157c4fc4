import { ValidationError } from '../errors';

/** One page of a list and the cursor of the next, null on the last page. */
export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

/** Cursors are opaque to clients: the id of the last item of the previous page. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(lastId, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[a-z]{2,3}_[0-9a-z]{26}$/.test(id)) {
    throw new ValidationError('invalid cursor', [
      { path: 'query.cursor', message: 'is not a cursor this API returned' },
    ]);
  }
  return id;
}

/** Cuts a result fetched with `LIMIT limit + 1` into a page. */
export function toPage<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
}

/** A cursor over a numbered sequence (a delivery's attempts): the number of the last item seen. */
export function encodeNumberCursor(last: number): string {
  return Buffer.from(`n:${last}`, 'utf8').toString('base64url');
}

export function decodeNumberCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const match = /^n:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) {
    throw new ValidationError('invalid cursor', [
      { path: 'query.cursor', message: 'is not a cursor this API returned' },
    ]);
  }
  return Number(match[1]);
}
