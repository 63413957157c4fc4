/**
 * A strict JSON reader that keeps what JSON.parse loses: the source text of every value (so an
 * event's `data` is stored and delivered byte for byte), numbers as written (12345678901234567890,
 * -0), and `__proto__` keys as ordinary keys. It refuses what JSON.parse silently resolves: a key
 * repeated in one object (which value counts differs between parsers).
 *
 * `canonicalJson` gives one text per meaning, for the idempotency fingerprint: keys sorted, no
 * whitespace, strings re-escaped, numbers by exact decimal value. For every value JSON.parse reads
 * without loss it equals safe-stable-stringify's output, so fingerprints stored before this reader
 * existed still match.
 */
import { MAX_JSON_DEPTH } from './route';

export type JsonNode =
  | { readonly kind: 'object'; readonly start: number; readonly end: number; readonly entries: [string, JsonNode][] }
  | { readonly kind: 'array'; readonly start: number; readonly end: number; readonly items: JsonNode[] }
  | { readonly kind: 'string'; readonly start: number; readonly end: number; readonly value: string }
  | { readonly kind: 'number'; readonly start: number; readonly end: number; readonly text: string }
  | { readonly kind: 'literal'; readonly start: number; readonly end: number; readonly value: boolean | null };

/** Not JSON at all (a 400). */
export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
  }
}

/** Well-formed JSON that breaks a rule of ours (a 422): a repeated key, too deep a nesting. */
export class JsonRuleError extends Error {
  override readonly name = 'JsonRuleError';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

const pathOf = (parts: readonly (string | number)[]): string => parts.map(String).join('.') || 'body';

class Reader {
  private at = 0;
  constructor(private readonly text: string) {}

  parse(): JsonNode {
    this.skipWhitespace();
    const node = this.value([]);
    this.skipWhitespace();
    if (this.at < this.text.length) this.fail('unexpected data after the JSON value');
    return node;
  }

  private fail(message: string): never {
    throw new JsonSyntaxError(this.at >= this.text.length ? 'unexpected end of JSON' : message, this.at);
  }

  private skipWhitespace(): void {
    while (this.at < this.text.length && WHITESPACE.has(this.text.charCodeAt(this.at))) this.at += 1;
  }

  private value(path: (string | number)[]): JsonNode {
    const start = this.at;
    const char = this.text[this.at];
    if (char === '{' || char === '[') {
      // Containers at depth MAX_JSON_DEPTH and below are refused: schemas and the store walk them recursively.
      if (path.length >= MAX_JSON_DEPTH)
        throw new JsonRuleError(pathOf(path), `must not nest more than ${MAX_JSON_DEPTH} levels deep`);
      return char === '{' ? this.object(path) : this.array(path);
    }
    if (char === '"') return { kind: 'string', start, value: this.string(), end: this.at };
    if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) {
      NUMBER.lastIndex = this.at;
      const match = NUMBER.exec(this.text);
      if (!match) this.fail('invalid number');
      this.at += match[0].length;
      return { kind: 'number', start, text: match[0], end: this.at };
    }
    for (const [word, literal] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return { kind: 'literal', start, value: literal, end: this.at };
      }
    }
    return this.fail(`unexpected character ${JSON.stringify(char)}`);
  }

  private object(path: (string | number)[]): JsonNode {
    const start = this.at;
    this.at += 1;
    const entries: [string, JsonNode][] = [];
    const seen = new Set<string>();
    this.skipWhitespace();
    if (this.text[this.at] === '}') {
      this.at += 1;
      return { kind: 'object', start, entries, end: this.at };
    }
    for (;;) {
      if (this.text[this.at] !== '"') this.fail('expected a string key');
      const key = this.string();
      if (seen.has(key)) throw new JsonRuleError(pathOf(path), `has the key ${JSON.stringify(key)} more than once`);
      seen.add(key);
      this.skipWhitespace();
      if (this.text[this.at] !== ':') this.fail("expected ':'");
      this.at += 1;
      this.skipWhitespace();
      entries.push([key, this.value([...path, key])]);
      this.skipWhitespace();
      const next = this.text[this.at];
      this.at += 1;
      if (next === '}') return { kind: 'object', start, entries, end: this.at };
      this.at -= 1;
      if (next !== ',') this.fail("expected ',' or '}'");
      this.at += 1;
      this.skipWhitespace();
    }
  }

  private array(path: (string | number)[]): JsonNode {
    const start = this.at;
    this.at += 1;
    const items: JsonNode[] = [];
    this.skipWhitespace();
    if (this.text[this.at] === ']') {
      this.at += 1;
      return { kind: 'array', start, items, end: this.at };
    }
    for (;;) {
      items.push(this.value([...path, items.length]));
      this.skipWhitespace();
      const next = this.text[this.at];
      this.at += 1;
      if (next === ']') return { kind: 'array', start, items, end: this.at };
      this.at -= 1;
      if (next !== ',') this.fail("expected ',' or ']'");
      this.at += 1;
      this.skipWhitespace();
    }
  }

  /** A string literal starting at the opening quote; returns its value. */
  private string(): string {
    this.at += 1;
    let value = '';
    let runStart = this.at;
    for (;;) {
      const code = this.text.charCodeAt(this.at);
      if (Number.isNaN(code)) this.fail('unterminated string');
      if (code === 0x22) {
        value += this.text.slice(runStart, this.at);
        this.at += 1;
        return value;
      }
      if (code < 0x20) this.fail('control character in a string (it must be escaped)');
      if (code !== 0x5c) {
        this.at += 1;
        continue;
      }
      value += this.text.slice(runStart, this.at);
      const escape = this.text[this.at + 1];
      if (escape === 'u') {
        const hex = this.text.slice(this.at + 2, this.at + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
          this.at += 1;
          this.fail('invalid \\u escape');
        }
        value += String.fromCharCode(parseInt(hex, 16));
        this.at += 6;
      } else {
        const replacement = escape === undefined ? undefined : ESCAPES[escape];
        if (replacement === undefined) {
          this.at += 1;
          this.fail('invalid escape');
        }
        value += replacement;
        this.at += 2;
      }
      runStart = this.at;
    }
  }
}

/** Parses JSON text; throws JsonSyntaxError for what is not JSON, JsonRuleError for a repeated key or too deep a nesting. */
export function readJson(text: string): JsonNode {
  return new Reader(text).parse();
}

/** The JavaScript value of a node: `__proto__` stays an own key; numbers are doubles (use the node for exact ones). */
export function valueOf(node: JsonNode): unknown {
  switch (node.kind) {
    case 'object': {
      const object: Record<string, unknown> = {};
      for (const [key, item] of node.entries) {
        Object.defineProperty(object, key, {
          value: valueOf(item),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
    case 'array':
      return node.items.map(valueOf);
    case 'string':
      return node.value;
    case 'number':
      return Number(node.text);
    case 'literal':
      return node.value;
  }
}

/** `-12.50e3` → sign, significant digits and the exponent of their last digit: exact, with no trailing zeros. */
function decimalOf(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) return text;
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  let digits = (whole + fraction).replace(/^0+/, '');
  let scale = BigInt(exponent) - BigInt(fraction.length);
  const trimmed = digits.replace(/0+$/, '');
  scale += BigInt(digits.length - trimmed.length);
  digits = trimmed;
  return digits === '' ? `${sign}0` : `${sign}${digits}e${scale}`;
}

/**
 * One text per number value: what JSON.stringify writes for a number a double holds exactly as
 * written (so the canonical form matches safe-stable-stringify's); otherwise (more digits than a
 * double keeps, beyond its range, or -0) the exact decimal value, which no double's text equals.
 */
function canonicalNumber(text: string): string {
  const double = Number(text);
  const shortest = JSON.stringify(double);
  if (Number.isFinite(double) && !Object.is(double, -0) && decimalOf(shortest) === decimalOf(text)) return shortest;
  return `${decimalOf(text)}`;
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Keys sorted (by UTF-16 code units, as Array.prototype.sort), no whitespace, strings re-escaped, exact numbers. */
export function canonicalJson(node: JsonNode): string {
  switch (node.kind) {
    case 'object':
      return `{${[...node.entries]
        .sort(([a], [b]) => byCodeUnits(a, b))
        .map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`)
        .join(',')}}`;
    case 'array':
      return `[${node.items.map(canonicalJson).join(',')}]`;
    case 'string':
      return JSON.stringify(node.value);
    case 'number':
      return canonicalNumber(node.text);
    case 'literal':
      return JSON.stringify(node.value);
  }
}

/** A member of a parsed object by key. */
export function memberOf(node: JsonNode, key: string): JsonNode | undefined {
  return node.kind === 'object' ? node.entries.find(([name]) => name === key)?.[1] : undefined;
}
