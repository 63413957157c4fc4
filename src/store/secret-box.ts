/**
 * Secrets at rest: signing and callback secrets are stored sealed with AES-256-GCM under a key
 * ring (WEBHOOKS_ENCRYPTION_KEYS). The first key seals, every key opens, and each sealed value
 * names its key, so the ring rotates without downtime (docs/operations.md, "Key ring rotation").
 *
 * - A key ring is comma-separated `<key id>:<base64 of 32 bytes>`; a key id is 1–32 letters,
 *   digits, `.`, `_` or `-` (it is stored beside every value it seals, so it is not secret).
 * - A sealed value is `enc:v1:<key id>:<iv>:<tag>:<ciphertext>`, each part base64url, with a
 *   12-byte IV drawn per value and a 16-byte tag. Its additional data is the row that owns it
 *   (see SECRET_OWNER), so a value copied into another row does not open there.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

const SEALED_PREFIX = 'enc:v1:';
const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;
/** Standard base64 (padded or not), as `openssl rand -base64 32` writes it. */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** The additional data of a sealed secret: the row it belongs to. */
export const SECRET_OWNER = {
  /** `secret` and `previous_secret` of a subscription (a rotation moves one to the other in the row). */
  subscription: (id: string): string => `subscription:${id}`,
  /** `callback_secret` of an event. */
  event: (id: string): string => `event:${id}`,
} as const;

/** A key ring that cannot be read. The message never quotes key material. */
export class KeyRingError extends Error {
  override readonly name = 'KeyRingError';
}

/** A stored secret that cannot be opened. The message never quotes the value. */
export class SealedSecretError extends Error {
  override readonly name = 'SealedSecretError';
}

interface RingKey {
  readonly id: string;
  readonly key: KeyObject;
}

/** Parses one `<key id>:<base64 of 32 bytes>`; `position` (1-based) names it in errors. */
function parseKey(text: string, position: number): RingKey {
  const colon = text.indexOf(':');
  const id = colon > 0 ? text.slice(0, colon) : '';
  const encoded = text.slice(colon + 1);
  if (!KEY_ID.test(id)) {
    throw new KeyRingError(
      `key ${position} does not start with a key id (1–32 letters, digits, '.', '_', '-') and ':' (write <key id>:<base64 of 32 bytes>)`,
    );
  }
  const key = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
  if (key?.length !== KEY_BYTES) {
    throw new KeyRingError(`key '${id}' is not the base64 of ${KEY_BYTES} bytes (e.g. openssl rand -base64 32)`);
  }
  return { id, key: createSecretKey(key) };
}

/** The parts of a sealed value, or undefined when it is not one. */
function parseSealed(stored: string): { keyId: string; iv: Buffer; tag: Buffer; data: Buffer } | undefined {
  if (!stored.startsWith(SEALED_PREFIX)) return undefined;
  const parts = stored.slice(SEALED_PREFIX.length).split(':');
  if (parts.length !== 4) return undefined;
  const [keyId, iv, tag, data] = parts as [string, string, string, string];
  if (!KEY_ID.test(keyId) || ![iv, tag, data].every((part) => BASE64URL.test(part))) return undefined;
  const decoded = { keyId, iv: Buffer.from(iv, 'base64url'), tag: Buffer.from(tag, 'base64url') };
  if (decoded.iv.length !== IV_BYTES || decoded.tag.length !== TAG_BYTES) return undefined;
  return { ...decoded, data: Buffer.from(data, 'base64url') };
}

/**
 * The keys secrets are sealed with. Holds them out of sight: JSON and `util.inspect` show the key
 * ids only.
 */
export class KeyRing {
  readonly #keys: ReadonlyMap<string, KeyObject>;
  /** Seals every new value; the one resealSecrets moves older values to. */
  readonly currentKeyId: string;

  private constructor(keys: readonly RingKey[]) {
    this.#keys = new Map(keys.map(({ id, key }) => [id, key]));
    this.currentKeyId = (keys[0] as RingKey).id;
  }

  /** The ring WEBHOOKS_ENCRYPTION_KEYS writes: comma-separated `<key id>:<base64 of 32 bytes>`, first seals. */
  static parse(text: string): KeyRing {
    const entries = text
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0);
    if (entries.length === 0) throw new KeyRingError('holds no key (write <key id>:<base64 of 32 bytes>, …)');
    const keys = entries.map((entry, index) => parseKey(entry, index + 1));
    const ids = keys.map((key) => key.id);
    const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
    if (repeated !== undefined) throw new KeyRingError(`key id '${repeated}' appears twice`);
    return new KeyRing(keys);
  }

  /** A new key, as one entry of a ring's text: `<id>:<base64 of 32 random bytes>`. */
  static generateKey(id: string): string {
    if (!KEY_ID.test(id)) throw new KeyRingError(`'${id}' is not a key id (1–32 letters, digits, '.', '_', '-')`);
    return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
  }

  /** The key ids, the current one first. */
  get keyIds(): readonly string[] {
    return [...this.#keys.keys()];
  }

  /** `plaintext` sealed under the current key for the row `owner` (SECRET_OWNER). */
  seal(plaintext: string, owner: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.#keys.get(this.currentKeyId) as KeyObject, iv, {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(Buffer.from(owner, 'utf8'));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), data].map((part) => part.toString('base64url'));
    return `${SEALED_PREFIX}${this.currentKeyId}:${parts.join(':')}`;
  }

  /**
   * The secret a stored value holds. A value that is not sealed is a secret written before
   * secrets were sealed (resealSecrets seals it at the next start) and is returned as it is.
   * Throws SealedSecretError for a key the ring lacks, or a value altered or moved from its row.
   */
  open(stored: string, owner: string): string {
    if (!stored.startsWith('enc:')) return stored;
    const sealed = parseSealed(stored);
    if (!sealed) throw new SealedSecretError(`a stored secret of ${owner} is not an ${SEALED_PREFIX} value`);
    const key = this.#keys.get(sealed.keyId);
    if (!key) {
      throw new SealedSecretError(
        `a stored secret of ${owner} is sealed under key '${sealed.keyId}', which WEBHOOKS_ENCRYPTION_KEYS does not hold`,
      );
    }
    const decipher = createDecipheriv(ALGORITHM, key, sealed.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(owner, 'utf8'));
    decipher.setAuthTag(sealed.tag);
    try {
      return Buffer.concat([decipher.update(sealed.data), decipher.final()]).toString('utf8');
    } catch {
      throw new SealedSecretError(
        `a stored secret of ${owner} does not open under key '${sealed.keyId}': altered, or not sealed for this row`,
      );
    }
  }

  /** `open` for a column that may be NULL. */
  openNullable(stored: string | null, owner: string): string | null {
    return stored === null ? null : this.open(stored, owner);
  }

  /** What a value sealed under the current key starts with: values without it are resealed. */
  get currentPrefix(): string {
    return `${SEALED_PREFIX}${this.currentKeyId}:`;
  }

  toJSON(): { keyIds: readonly string[] } {
    return { keyIds: this.keyIds };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `KeyRing { keyIds: ${JSON.stringify(this.keyIds)} }`;
  }
}
