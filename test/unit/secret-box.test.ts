/**
 * The key ring that seals secrets at rest: its text format, sealing and opening, the key each value
 * names, refusal of a missing key, an altered value or one moved to another row, and rotation.
 */
import { inspect } from 'node:util';
import { randomBytes } from 'node:crypto';
import { generateSecret } from '../../core/signing';
import { ConfigError, loadConfig } from '../../src/config';
import { KeyRing, KeyRingError, SealedSecretError, SECRET_OWNER } from '../../src/store/secret-box';

const key = (id: string): string => `${id}:${randomBytes(32).toString('base64')}`;
const OWNER = SECRET_OWNER.subscription('sub_1');

describe('key ring text', () => {
  test('reads comma-separated <key id>:<base64 of 32 bytes>, the first one current', () => {
    const ring = KeyRing.parse(` ${key('2026-11')} ,${key('k_old.1')},`);
    expect(ring.currentKeyId).toBe('2026-11');
    expect(ring.keyIds).toEqual(['2026-11', 'k_old.1']);
  });

  test('a generated key is one entry of a ring', () => {
    const ring = KeyRing.parse(KeyRing.generateKey('local1'));
    expect(ring.keyIds).toEqual(['local1']);
    expect(() => KeyRing.generateKey('no spaces')).toThrow(KeyRingError);
  });

  test.each([
    ['nothing', ' , ', /holds no key/],
    ['no key id', randomBytes(32).toString('base64'), /key 1 does not start with a key id/],
    ['a key id with a bad character', `k 1:${randomBytes(32).toString('base64')}`, /key 1 does not start/],
    ['a short key', `k1:${randomBytes(16).toString('base64')}`, /key 'k1' is not the base64 of 32 bytes/],
    ['a long key', `k1:${randomBytes(33).toString('base64')}`, /key 'k1' is not the base64 of 32 bytes/],
    ['not base64', `k1:${'*'.repeat(44)}`, /key 'k1' is not the base64 of 32 bytes/],
    ['a key id twice', `${key('k1')},${key('k1')}`, /key id 'k1' appears twice/],
  ])('refuses %s, never quoting key material', (_name, text, message) => {
    let error: unknown;
    try {
      KeyRing.parse(text);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(KeyRingError);
    expect((error as Error).message).toMatch(message);
    for (const part of text.split(/[,:]/).filter((part) => part.length > 8)) {
      expect((error as Error).message).not.toContain(part);
    }
  });

  test('shows its key ids only, in JSON and when inspected', () => {
    const text = key('k1');
    const ring = KeyRing.parse(text);
    const material = text.slice(3);
    expect(JSON.stringify({ ring })).toBe('{"ring":{"keyIds":["k1"]}}');
    expect(inspect(ring, { showHidden: true, depth: 5 })).not.toContain(material);
    expect(inspect({ ring })).toContain('k1');
  });
});

describe('sealing', () => {
  const ring = KeyRing.parse(`${key('k2')},${key('k1')}`);

  test('a sealed secret opens to itself, names its key, and hides the secret', () => {
    const secret = generateSecret();
    const sealed = ring.seal(secret, OWNER);
    expect(sealed).toMatch(/^enc:v1:k2:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(secret.slice('whsec_'.length, 20));
    expect(ring.open(sealed, OWNER)).toBe(secret);
    expect(sealed.startsWith(ring.currentPrefix)).toBe(true);
  });

  test('the same secret seals differently each time (a fresh IV)', () => {
    const secret = generateSecret();
    expect(ring.seal(secret, OWNER)).not.toBe(ring.seal(secret, OWNER));
  });

  test('a secret stored before sealing reads as it is', () => {
    const secret = generateSecret();
    expect(ring.open(secret, OWNER)).toBe(secret);
    expect(ring.openNullable(null, OWNER)).toBeNull();
  });

  test('a ring without the key a value names refuses it, naming the key only', () => {
    const secret = generateSecret();
    const sealed = ring.seal(secret, OWNER);
    const other = KeyRing.parse(key('k3'));
    expect(() => other.open(sealed, OWNER)).toThrow(SealedSecretError);
    expect(() => other.open(sealed, OWNER)).toThrow(
      /sealed under key 'k2', which WEBHOOKS_ENCRYPTION_KEYS does not hold/,
    );
  });

  test('the wrong key under the same id does not open it', () => {
    const sealed = ring.seal(generateSecret(), OWNER);
    const impostor = KeyRing.parse(key('k2'));
    expect(() => impostor.open(sealed, OWNER)).toThrow(/does not open under key 'k2'/);
  });

  test('an altered value does not open: ciphertext, tag, IV, key id', () => {
    const secret = generateSecret();
    const sealed = ring.seal(secret, OWNER);
    const [prefix, version, keyId, iv, tag, data] = sealed.split(':') as string[];
    const flip = (part: string): string => {
      const bytes = Buffer.from(part, 'base64url');
      bytes[0] = (bytes[0] as number) ^ 1;
      return bytes.toString('base64url');
    };
    const altered = [
      [prefix, version, keyId, iv, tag, flip(data as string)],
      [prefix, version, keyId, iv, flip(tag as string), data],
      [prefix, version, keyId, flip(iv as string), tag, data],
      [prefix, version, 'k1', iv, tag, data],
    ].map((parts) => parts.join(':'));
    for (const value of altered) {
      expect(() => ring.open(value, OWNER)).toThrow(SealedSecretError);
    }
    expect(() => ring.open(`${sealed}:more`, OWNER)).toThrow(/is not an enc:v1: value/);
    expect(() => ring.open('enc:v2:k2:a:b:c', OWNER)).toThrow(SealedSecretError);
  });

  test('a value moved to another row does not open there', () => {
    const sealed = ring.seal(generateSecret(), OWNER);
    expect(() => ring.open(sealed, SECRET_OWNER.subscription('sub_2'))).toThrow(/not sealed for this row/);
    expect(() => ring.open(sealed, SECRET_OWNER.event('sub_1'))).toThrow(SealedSecretError);
  });
});

describe('rotation', () => {
  test('a new key first: new values go under it, values under the old key still open', () => {
    const oldKey = key('2026-10');
    const before = KeyRing.parse(oldKey);
    const secret = generateSecret();
    const sealedBefore = before.seal(secret, OWNER);

    const newKey = key('2026-11');
    const rolled = KeyRing.parse(`${newKey},${oldKey}`);
    expect(rolled.open(sealedBefore, OWNER)).toBe(secret);
    expect(sealedBefore.startsWith(rolled.currentPrefix)).toBe(false);
    const resealed = rolled.seal(rolled.open(sealedBefore, OWNER), OWNER);
    expect(resealed.startsWith('enc:v1:2026-11:')).toBe(true);

    // Once every value is resealed, the old key can go; a value still under it would not open.
    const trimmed = KeyRing.parse(newKey);
    expect(trimmed.open(resealed, OWNER)).toBe(secret);
    expect(() => trimmed.open(sealedBefore, OWNER)).toThrow(/sealed under key '2026-10'/);
  });
});

describe('WEBHOOKS_ENCRYPTION_KEYS', () => {
  test('is read into the key ring; unset or empty is undefined', () => {
    expect(loadConfig({ WEBHOOKS_ENCRYPTION_KEYS: `${key('k2')},${key('k1')}` }).encryptionKeys?.keyIds).toEqual([
      'k2',
      'k1',
    ]);
    expect(loadConfig({}).encryptionKeys).toBeUndefined();
    expect(loadConfig({ WEBHOOKS_ENCRYPTION_KEYS: '' }).encryptionKeys).toBeUndefined();
  });

  test('a bad ring is refused at start-up, naming the variable and never the key', () => {
    const material = randomBytes(16).toString('base64');
    const load = (): unknown => loadConfig({ WEBHOOKS_ENCRYPTION_KEYS: `k1:${material}` });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/WEBHOOKS_ENCRYPTION_KEYS: key 'k1' is not the base64 of 32 bytes/);
    expect(load).not.toThrow(material);
  });
});
