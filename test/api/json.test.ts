/**
 * The JSON reader behind payload fidelity (src/api/json.ts): it reads what JSON.parse reads, keeps
 * each value's source text, refuses repeated keys, and its canonical text (the idempotency
 * fingerprint) equals safe-stable-stringify's wherever JSON.parse loses nothing, so fingerprints
 * stored before it still match.
 */
import fc from 'fast-check';
import { configure } from 'safe-stable-stringify';
import { canonicalJson, JsonRuleError, JsonSyntaxError, readJson, valueOf } from '../../src/api/json';

const legacyCanonical = configure({ deterministic: true, bigint: false, circularValue: Error }) as (
  v: unknown,
) => string;

/** JSON values without NaN, Infinity or -0 (which JSON.parse and JSON.stringify cannot carry through). */
const jsonValue = fc.jsonValue().filter((value) => !JSON.stringify(value).includes('-0'));

describe('readJson', () => {
  test('reads what JSON.parse reads, pretty-printed or not; canonical text equals safe-stable-stringify', () => {
    fc.assert(
      fc.property(jsonValue, fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        const node = readJson(text);
        expect(valueOf(node)).toEqual(JSON.parse(text));
        expect(canonicalJson(node)).toBe(legacyCanonical(JSON.parse(text)));
        expect(text.slice(node.start, node.end)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  test('refuses what JSON.parse refuses', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (text) => {
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        if (parses) expect(() => readJson(text)).not.toThrow(JsonSyntaxError);
        else expect(() => readJson(text)).toThrow();
      }),
      { numRuns: 2_000 },
    );
    for (const text of [
      '',
      '{',
      '[1,]',
      '{"a":1,}',
      '01',
      '+1',
      '1.',
      '.5',
      '0x10',
      'NaN',
      '"\t"',
      "'a'",
      '"\\x41"',
      '{"a" 1}',
      '[1] 2',
    ])
      expect(() => readJson(text)).toThrow(JsonSyntaxError);
  });

  test('__proto__ stays an own key; numbers keep their text', () => {
    const node = readJson('{"__proto__":{"x":1},"n":12345678901234567890,"z":-0}');
    const value = valueOf(node) as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__', 'n', 'z']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(node.kind === 'object' && node.entries.map(([, item]) => item.kind === 'number' && item.text)).toEqual([
      false,
      '12345678901234567890',
      '-0',
    ]);
  });

  test('a repeated key, however it is spelled, is a rule error naming the object', () => {
    expect(() => readJson('{"a":{"b":1,"\\u0062":2}}')).toThrow(
      new JsonRuleError('a', 'has the key "b" more than once'),
    );
  });

  test('nesting deeper than 64 is a rule error at the container too deep; 100,000 levels do not overflow the stack', () => {
    expect(() => readJson(`${'['.repeat(64)}${']'.repeat(64)}`)).not.toThrow();
    expect(() => readJson(`${'['.repeat(65)}${']'.repeat(65)}`)).toThrow(JsonRuleError);
    expect(() => readJson('['.repeat(100_000))).toThrow(JsonRuleError);
  });
});

describe('canonicalJson', () => {
  const canonical = (text: string): string => canonicalJson(readJson(text));

  test('the same meaning, the same text: key order, whitespace, escapes, number spelling', () => {
    expect(canonical('{ "b" : [1.0, "\\u00e9"], "a" : 1E2 }')).toBe(canonical('{"a":100,"b":[1,"é"]}'));
    expect(canonical('12345678901234567890')).toBe(canonical('1234567890123456789e1'));
    expect(canonical('1e400')).toBe(canonical('10e399'));
  });

  test('a different value, a different text, where a double would have merged them', () => {
    const distinct = [
      '12345678901234567890',
      '12345678901234567891',
      '-0',
      '0',
      '1e400',
      '1e401',
      '0.1',
      '0.10000000000000000001',
    ];
    expect(new Set(distinct.map(canonical)).size).toBe(distinct.length);
  });
});
