import { stableStringify } from '../../src/util/stable-json';

describe('stableStringify', () => {
  test('sorts keys at every level, so key order does not matter', () => {
    const a = { b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } };
    const b = { a: { c: null, d: [1, { y: 2, z: 1 }] }, b: 1 };
    expect(stableStringify(a)).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
    expect(stableStringify(b)).toBe(stableStringify(a));
  });

  test('keeps array order', () => {
    expect(stableStringify([2, 1])).not.toBe(stableStringify([1, 2]));
  });

  test('scalars as JSON.stringify writes them', () => {
    expect(stableStringify('x"y')).toBe('"x\\"y"');
    expect(stableStringify(1.5)).toBe('1.5');
    expect(stableStringify(true)).toBe('true');
    expect(stableStringify(null)).toBe('null');
  });

  test('undefined properties are dropped, as in JSON', () => {
    expect(stableStringify({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(stableStringify({ a: undefined, b: 1 })).toBe(stableStringify({ b: 1 }));
    expect(stableStringify(undefined)).toBe('null');
  });

  test('the result is valid JSON equal to the input', () => {
    const value = { unicode: 'é ✓', nested: { list: [{ k: 'v' }], empty: {} }, n: -0.25 };
    expect(JSON.parse(stableStringify(value))).toEqual(value);
  });

  test('different values give different strings', () => {
    expect(stableStringify({ a: 1 })).not.toBe(stableStringify({ a: '1' }));
    expect(stableStringify({ a: null })).not.toBe(stableStringify({}));
  });
});
