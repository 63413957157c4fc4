import { findUnstorable, MAX_JSON_DEPTH } from '../../src/api/route';

const nested = (depth: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
};

describe('findUnstorable', () => {
  test('ordinary JSON passes, astral characters included', () => {
    expect(findUnstorable({ a: 'text', b: [1, true, null, { c: '🙂 é' }], d: '' })).toBeUndefined();
    expect(findUnstorable(undefined)).toBeUndefined();
  });

  test('a NUL in a value names its path', () => {
    expect(findUnstorable({ data: { list: ['ok', 'a\u0000b'] } })).toEqual({
      path: 'data.list.1',
      message: 'must not contain a NUL character',
    });
  });

  test('a NUL in a key names the object holding it', () => {
    expect(findUnstorable({ data: { 'k\u0000': 1 } })).toEqual({
      path: 'data',
      message: expect.stringContaining('a key must not contain a NUL'),
    });
  });

  test.each(['\ud800', 'x\udfff', '\udc00\ud800'])('a lone surrogate is refused: %j', (text) => {
    expect(findUnstorable({ s: text })).toEqual({ path: 's', message: expect.stringContaining('lone surrogate') });
  });

  test('the root is called body, or the given prefix', () => {
    expect(findUnstorable('\u0000')).toMatchObject({ path: 'body' });
    expect(findUnstorable({ accountId: '\u0000' }, ['query'])).toMatchObject({ path: 'query.accountId' });
  });

  test(`nesting is bounded at ${MAX_JSON_DEPTH} levels`, () => {
    expect(findUnstorable({ data: nested(MAX_JSON_DEPTH - 1) })).toBeUndefined();
    expect(findUnstorable({ data: nested(MAX_JSON_DEPTH) })).toMatchObject({
      path: expect.stringMatching(/^data(\.0)*$/),
      message: expect.stringContaining('nest'),
    });
    expect(findUnstorable({ data: nested(100_000) })).toMatchObject({ message: expect.stringContaining('nest') });
  });
});
