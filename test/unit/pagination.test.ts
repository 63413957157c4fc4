import { newId } from '../../core/ids';
import { ValidationError } from '../../src/errors';
import { decodeCursor, encodeCursor, toPage } from '../../src/store/pagination';

describe('cursors', () => {
  test('round-trip an id and are opaque (base64url, not the id itself)', () => {
    const id = newId('sub');
    const cursor = encodeCursor(id);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain(id);
    expect(decodeCursor(cursor)).toBe(id);
  });

  test('no cursor means the first page', () => {
    expect(decodeCursor(undefined)).toBeUndefined();
  });

  test.each([
    '',
    'garbage',
    encodeCursor('sub_short'),
    encodeCursor("sub_01'; DROP TABLE x;--aaaaaaaaaa"),
    encodeCursor('SUB_0123456789abcdefghjkmnpqrs'),
  ])('a cursor this API did not return is a 422 naming cursor: %p', (cursor) => {
    let error: unknown;
    try {
      decodeCursor(cursor);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).details).toEqual([{ path: 'query.cursor', message: expect.any(String) }]);
  });
});

describe('toPage', () => {
  const rows = (n: number) => Array.from({ length: n }, () => ({ id: newId('dlv') }));

  test('a full page plus one row has a cursor pointing at its last item', () => {
    const fetched = rows(4);
    const page = toPage(fetched, 3);
    expect(page.items).toEqual(fetched.slice(0, 3));
    expect(page.nextCursor).not.toBeNull();
    expect(decodeCursor(page.nextCursor as string)).toBe(fetched[2]?.id);
  });

  test('the last page has no cursor', () => {
    expect(toPage(rows(3), 3).nextCursor).toBeNull();
    expect(toPage(rows(1), 3)).toMatchObject({ nextCursor: null });
    expect(toPage([], 3)).toEqual({ items: [], nextCursor: null });
  });
});

describe('ids', () => {
  test('sort in creation order and carry their prefix', async () => {
    const first = newId('evt');
    await new Promise((resolve) => setTimeout(resolve, 2));
    const second = newId('evt');
    expect(first).toMatch(/^evt_[0-9a-z]{26}$/);
    expect(first < second).toBe(true);
  });
});
