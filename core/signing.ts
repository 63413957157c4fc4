/**
 * Signature headers of the Standard Webhooks spec (https://www.standardwebhooks.com):
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the
 * secret's decoded bytes. Receivers verify with any Standard Webhooks library.
 */
import { createHmac, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
/** 32 random bytes: the HMAC-SHA256 block of entropy. */
const SECRET_BYTES = 32;

export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** True for `whsec_` + base64 of 24 to 64 bytes, the secrets Standard Webhooks libraries accept. */
export function isValidSecret(secret: string): boolean {
  if (!secret.startsWith(SECRET_PREFIX)) return false;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return false;
  const length = Buffer.from(encoded, 'base64').length;
  return length >= 24 && length <= 64;
}

function sign(secret: string, content: string): string {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  return createHmac('sha256', key).update(content).digest('base64');
}

export interface SignatureInput {
  /** The event id: the same on every attempt, so receivers can dedupe. */
  readonly id: string;
  /** Seconds since the epoch at this attempt. */
  readonly timestamp: number;
  readonly body: string;
  /** Every secret currently valid: several while a rotated secret's grace period runs. */
  readonly secrets: readonly string[];
}

export function signatureHeaders(input: SignatureInput): Record<string, string> {
  const content = `${input.id}.${input.timestamp}.${input.body}`;
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': input.secrets.map((secret) => `v1,${sign(secret, content)}`).join(' '),
  };
}
